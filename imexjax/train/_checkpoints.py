"""Orbax checkpoints of a training run: one per epoch, the newest two and the best kept, each verified."""

import errno
import os
import pathlib
import shutil
import sys
from typing import Any

import jax
import orbax.checkpoint as ocp

from .._custom_types import PyTree
from .._errors import ConfigError
from ._checkpoint_digests import DamagedCheckpointError, sealed, verify
from ._checkpoint_folder import DAMAGED_PREFIX, DELETING_PREFIX, move_out, tidy
from ._disk_full import SAVE_MARGIN_BYTES, checkpoint_disk_full_error, one_line_when_the_disk_is_full


class RunCheckpoints:
    """The checkpoints of a run under `WORKDIR/checkpoints`: one orbax step per epoch.

    The training state is saved as one orbax item per part: `params`, `rest` (the network's
    other variables: batch-norm running statistics, if any) and `opt_state`, so that a model
    can be restored for inference without building an optimizer; a part with no arrays is not
    written, and restores as given. After each save only the newest two epochs and the best
    one (as the caller names it) are kept, whatever earlier runs in the folder left: the best
    checkpoint is a step written by the same atomic save as that epoch's last state, so no
    crash can leave "best" and "last" out of step. An epoch is deleted by renaming its folder
    `deleting-EPOCH` and then removing it, so a kill midway leaves nothing orbax would read;
    opening the folder removes such leftovers, and sets aside as damaged a step that lacks
    orbax's own metadata.
    Each save records the checksums of its arrays in its metadata and a digest of that
    metadata (checksums included, `meta_digest`); every restore checks the digest before it
    trusts the metadata, then the arrays against their checksums. A checkpoint that cannot be
    read, does not match, or carries no digest (written by an older imexjax) raises
    `DamagedCheckpointError`.
    Saves are synchronous and atomic (orbax writes to a temporary folder and renames it;
    leftover temporary folders are removed when the manager opens). Use as a context manager,
    or call `close`.

    Args:
      directory: the `checkpoints` folder of the run.
    """

    def __init__(self, directory: str | pathlib.Path):
        self.directory = pathlib.Path(directory).absolute()
        if jax.process_index() == 0:
            tidy(self.directory)
        ocp.multihost.sync_global_processes("imexjax-tidy-checkpoints")
        options = ocp.CheckpointManagerOptions(
            enable_async_checkpointing=False, create=True, cleanup_tmp_directories=True
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def __enter__(self) -> "RunCheckpoints":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def save(self, epoch: int, state: dict[str, PyTree], meta: dict[str, Any], *, best_epoch: int) -> None:
        """Saves `state` (`params`, `rest`, `opt_state`) and the JSON-ready `meta` with checksums and digest as `epoch`.

        Then deletes every epoch but the newest two and `best_epoch`. Before anything is
        written, the free space is compared with the arrays' size and `SAVE_MARGIN_BYTES`; a
        disk that fills during the save anyway (another process writing, a quota) is caught
        as well.

        Args:
          epoch: the step number.
          state: the training state.
          meta: what the run needs to resume (history, best epoch, time).
          best_epoch: the epoch with the best validation loss so far (`epoch` itself, or an
            earlier one), kept until a better one is saved.

        Raises:
          DiskFullError: the disk is full (the epochs saved before are kept).
        """
        saved = {name: tree for name, tree in state.items() if jax.tree.leaves(tree)}
        items = {name: ocp.args.StandardSave(tree) for name, tree in saved.items()}
        meta = sealed(meta, saved)
        needed = sum(leaf.nbytes for leaf in jax.tree.leaves(saved)) + SAVE_MARGIN_BYTES
        free = shutil.disk_usage(self.directory).free
        if free < needed:
            reason = f"{os.strerror(errno.ENOSPC)}: {free / 2**20:.1f} MiB free, {needed / 2**20:.1f} MiB needed"
            raise checkpoint_disk_full_error(epoch, self.directory, reason)
        with one_line_when_the_disk_is_full(epoch, self.directory):
            self.manager.save(epoch, args=ocp.args.Composite(meta=ocp.args.JsonSave(meta), **items))
            self.manager.wait_until_finished()
        self._delete([old for old in self.epochs()[:-2] if old != best_epoch])

    def epochs(self) -> list[int]:
        """The saved epochs, oldest first."""
        return sorted(self.manager.all_steps())

    def restore(self, epoch: int, like: dict[str, PyTree]) -> tuple[dict[str, PyTree], dict[str, Any]]:
        """Restores the items named in `like` from epoch `epoch`, verified: the meta by its digest, then the arrays.

        Args:
          epoch: a saved epoch.
          like: some of the parts (e.g. only `params` and `rest` for inference), as pytrees
            whose structure, shapes and dtypes the restored arrays take.

        Returns:
          `(state, meta)`: the restored items, and the checkpoint's metadata.

        Raises:
          ConfigError: the checkpoint holds the parameters of another network (their shapes
            differ from `like`'s); nothing is read then.
          DamagedCheckpointError: the checkpoint cannot be read, its metadata or arrays do not
            match, or its metadata has no digest.
        """
        folder = self.directory / str(epoch)
        for name in ("params", "rest"):
            if name in like and jax.tree.leaves(like[name]):
                self._check_shapes(folder, name, like[name])
        items = {
            name: ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct, tree))
            for name, tree in like.items()
            if jax.tree.leaves(tree)
        }
        try:
            restored = self.manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore(), **items))
            meta = restored["meta"]
            state = {name: restored[name] for name in items}
            if not isinstance(meta, dict):
                raise TypeError("its meta is not a JSON object")
        except Exception as error:  # orbax, tensorstore and JSON errors of a damaged folder
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise DamagedCheckpointError(f"checkpoint {folder} cannot be read ({reason})") from None
        verify(folder, meta, state)
        return {name: state.get(name, tree) for name, tree in like.items()}, meta

    def restore_newest_intact(self, like: dict[str, PyTree]) -> tuple[dict[str, PyTree], dict[str, Any]] | None:
        """The newest epoch that restores intact; damaged newer ones are set aside, as stderr says.

        A damaged checkpoint newer than the one restored is renamed `damaged-EPOCH` (kept for
        inspection, out of orbax's sight; `damaged-EPOCH.1`, ... where that name is taken), so
        that training can save that epoch again.

        Returns:
          `(state, meta)` as `restore`, or None if nothing was saved.

        Raises:
          DamagedCheckpointError: every saved checkpoint is damaged (nothing is moved then).
        """
        damaged: list[tuple[int, DamagedCheckpointError]] = []
        for epoch in reversed(self.epochs()):
            try:
                restored = self.restore(epoch, like)
            except DamagedCheckpointError as error:
                damaged.append((epoch, error))
                continue
            if damaged:
                moved = self._move_out([bad for bad, _ in damaged], DAMAGED_PREFIX, remove=False)
                if jax.process_index() == 0:
                    for (_, error), name in zip(damaged, moved, strict=True):
                        print(f"warning: {error}; moved it to {name}, resumed from epoch {epoch}", file=sys.stderr)
            return restored
        if damaged:
            raise DamagedCheckpointError(
                f"{damaged[0][1]}, and no intact checkpoint is left; move {self.directory} away to train from scratch"
            )
        return None

    def _check_shapes(self, folder: pathlib.Path, name: str, like: PyTree) -> None:
        """Raises ConfigError where item `name` of checkpoint `folder` holds other array paths or shapes than `like`.

        Reads orbax's metadata only, so that no array read is started and abandoned (which
        leaves tensorstore callbacks firing into a closed event loop at exit). A folder whose
        metadata cannot be read is left to `restore`, which reports it as damaged.
        """
        try:
            stored_tree = ocp.StandardCheckpointHandler().metadata(folder / name)
        except Exception:  # orbax and tensorstore errors of a damaged folder
            return
        stored = _shapes(stored_tree)
        wanted = _shapes(like)
        differences = [
            f"{path}: stored {stored.get(path, 'nothing')}, this network {wanted.get(path, 'nothing')}"
            for path in sorted(stored.keys() | wanted.keys())
            if stored.get(path) != wanted.get(path)
        ]
        if differences:
            raise ConfigError(
                f"checkpoint {folder} holds the {name} of another network ({differences[0]}"
                f"{f', and {len(differences) - 1} more' if len(differences) > 1 else ''}): move {self.directory} "
                "away to train from scratch, or resume with the config and imexjax version that wrote it"
            )

    def _delete(self, epochs: list[int]) -> None:
        """Deletes the folders of `epochs`: each is renamed `deleting-EPOCH` first, then removed."""
        self._move_out(epochs, DELETING_PREFIX, remove=True)

    def _move_out(self, epochs: list[int], prefix: str, *, remove: bool) -> list[str]:
        """`move_out` of `epochs` in this folder, then a reload of the manager's view of the steps."""
        if not epochs:
            return []
        names = move_out(self.directory, epochs, prefix, remove=remove)
        self.manager.reload()
        return names

    def close(self) -> None:
        """Releases the manager."""
        self.manager.close()


def _shapes(tree: PyTree) -> dict[str, tuple[int, ...]]:
    """The shape of each array of `tree` (arrays, or orbax's array metadata), by its path `a/b/0`."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        "/".join(str(getattr(key, "key", getattr(key, "idx", getattr(key, "name", key)))) for key in path): tuple(
            leaf.shape
        )
        for path, leaf in leaves
        if hasattr(leaf, "shape")
    }
