"""Orbax checkpoints of a training run: the last epochs, and the best by validation loss."""

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

from .._custom_types import PyTree


class RunCheckpoints:
    """Two orbax managers under `WORKDIR/checkpoints`: `last/` (every epoch, the newest two
    kept) and `best/` (the epoch with the lowest validation loss so far).

    Saves are synchronous and atomic (orbax writes to a temporary folder and renames it), so a
    run killed at any moment leaves its earlier checkpoints intact.

    Args:
      directory: the `checkpoints` folder of the run.
    """

    def __init__(self, directory: str | pathlib.Path):
        directory = pathlib.Path(directory).absolute()
        options = dict(enable_async_checkpointing=False, create=True)
        self.last = ocp.CheckpointManager(
            directory / "last", options=ocp.CheckpointManagerOptions(max_to_keep=2, **options)
        )
        self.best = ocp.CheckpointManager(
            directory / "best", options=ocp.CheckpointManagerOptions(max_to_keep=1, **options)
        )

    def save(self, epoch: int, state: PyTree, meta: dict[str, Any], *, is_best: bool) -> None:
        """Saves `state` and the JSON-ready `meta` as epoch `epoch` (and as the best, if so)."""
        managers = (self.last, self.best) if is_best else (self.last,)
        for manager in managers:
            manager.save(
                epoch, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
            )
            manager.wait_until_finished()

    def latest_epoch(self) -> int | None:
        """The newest saved epoch, or None."""
        return self.last.latest_step()

    def best_epoch(self) -> int | None:
        """The epoch of the best checkpoint, or None."""
        return self.best.latest_step()

    def restore(self, like: PyTree, *, best: bool = False) -> tuple[PyTree, dict[str, Any]]:
        """Restores the newest (or best) checkpoint into the structure, shapes and dtypes of `like`.

        Returns:
          `(state, meta)`.
        """
        manager = self.best if best else self.last
        step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {manager.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        restored = manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
        )
        return restored.state, restored.meta

    def close(self) -> None:
        """Releases the managers."""
        self.last.close()
        self.best.close()
