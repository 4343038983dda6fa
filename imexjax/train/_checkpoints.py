"""Orbax checkpoints of a training run: the last epochs, and the best by validation loss."""

import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

from .._custom_types import PyTree

ITEMS: tuple[str, ...] = ("params", "rest", "opt_state")
"""The saved parts of the training state: parameters, the other variables of the network
(batch-norm running statistics, if any) and the optimizer's state, each its own orbax item so
that a model can be restored for inference without building an optimizer. An item with no
arrays (no batch normalization: `rest` is empty) is not written, and restores as given."""


class RunCheckpoints:
    """Two orbax managers under `WORKDIR/checkpoints`: `last/` (every epoch, the newest two
    kept) and `best/` (the epoch with the lowest validation loss so far).

    Saves are synchronous and atomic (orbax writes to a temporary folder and renames it), so a
    run killed at any moment leaves its earlier checkpoints intact. Use as a context manager,
    or call `close`.

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

    def __enter__(self) -> "RunCheckpoints":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def save(self, epoch: int, state: dict[str, PyTree], meta: dict[str, Any], *, is_best: bool) -> None:
        """Saves `state` (a dict of the `ITEMS`) and the JSON-ready `meta` as epoch `epoch` (and as the best, if so)."""
        items = {name: ocp.args.StandardSave(state[name]) for name in ITEMS if jax.tree.leaves(state[name])}
        managers = (self.last, self.best) if is_best else (self.last,)
        for manager in managers:
            manager.save(epoch, args=ocp.args.Composite(meta=ocp.args.JsonSave(meta), **items))
            manager.wait_until_finished()

    def latest_epoch(self) -> int | None:
        """The newest saved epoch, or None."""
        return self.last.latest_step()

    def best_epoch(self) -> int | None:
        """The epoch of the best checkpoint, or None."""
        return self.best.latest_step()

    def restore(self, like: dict[str, PyTree], *, best: bool = False) -> tuple[dict[str, PyTree], dict[str, Any]]:
        """Restores the items named in `like` from the newest (or best) checkpoint, with their shapes and dtypes.

        Args:
          like: some of the `ITEMS` (e.g. only `params` and `rest` for inference), as pytrees
            whose structure, shapes and dtypes the restored arrays take.
          best: restore the best checkpoint instead of the newest.

        Returns:
          `(state, meta)`: the restored items, and the checkpoint's JSON metadata.
        """
        manager = self.best if best else self.last
        step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {manager.directory}")
        items = {
            name: ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct, tree))
            for name, tree in like.items()
            if jax.tree.leaves(tree)
        }
        restored = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore(), **items))
        return {name: restored[name] if name in items else tree for name, tree in like.items()}, restored["meta"]

    def close(self) -> None:
        """Releases the managers."""
        self.last.close()
        self.best.close()
