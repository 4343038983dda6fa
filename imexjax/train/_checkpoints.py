"""Orbax checkpoints of a training run: one per epoch, the newest two and the best kept, each verified."""

import contextlib
import errno
import hashlib
import json
import logging
import os
import pathlib
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from .._custom_types import PyTree
from .._errors import UserError

STEP_METADATA_FILE = "_CHECKPOINT_METADATA"
"""The file orbax writes into every step before it commits it; a step without it was being deleted."""

DELETING_PREFIX = "deleting-"
"""A step folder is renamed `deleting-EPOCH` before it is removed, out of orbax's sight."""

DAMAGED_PREFIX = "damaged-"
"""A damaged step folder is renamed `damaged-EPOCH`, kept for inspection out of orbax's sight."""


class DamagedCheckpointError(UserError):
    """A checkpoint cannot be read, or its arrays or metadata differ from those that were saved."""


class DiskFullError(UserError, OSError):
    """A checkpoint could not be written because the disk (or the quota, or the file size limit) is full."""


SAVE_MARGIN_BYTES = 1 << 20
"""Room for orbax's metadata files beside the arrays, when `RunCheckpoints.save` checks the free space."""

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""No space left on the device, disk quota exceeded, file too large."""


def disk_full_reason(error: BaseException | None) -> str | None:
    """What `error`, or an error it was raised from, says about a full disk (`No space left on device`), else None.

    An `OSError` carries its `errno`; tensorstore, which writes orbax's arrays, raises a
    `ValueError` whose message ends in `[os_error_code='28']`.
    """
    while error is not None:
        codes = [error.errno] if isinstance(error, OSError) else []
        codes += [int(code) for code in re.findall(r"os_error_code='?(\d+)", str(error))]
        for code in codes:
            if code in DISK_FULL_ERRNOS:
                return os.strerror(code)
        error = error.__cause__ or error.__context__
    return None


class _DropDiskFullTracebacks(logging.Filter):
    """Drops log records carrying a disk-full error: orbax logs each with its traceback, `save` says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and disk_full_reason(record.exc_info[1]))


def _orbax_threads() -> set[threading.Thread]:
    """The running threads of orbax's classes (its background writers)."""
    return {thread for thread in threading.enumerate() if type(thread).__module__.startswith("orbax.")}


def _disk_full_error(epoch: int, directory: pathlib.Path, reason: str) -> DiskFullError:
    return DiskFullError(
        f"cannot write the checkpoint of epoch {epoch} to {directory} ({reason}); the checkpoints before it "
        "are kept: free space there and rerun the same command to resume"
    )


@contextlib.contextmanager
def _one_line_when_the_disk_is_full(epoch: int, directory: pathlib.Path) -> Iterator[None]:
    """Turns a disk-full error inside the block into `DiskFullError`, without orbax's logged tracebacks.

    Orbax raises at the first failed write while its other writers of the save still run;
    they are waited for (a minute at most), so that none is cut off by the exit that follows
    and logs that instead.
    """
    absl_logger = logging.getLogger("absl")  # orbax logs through absl
    quiet = _DropDiskFullTracebacks()
    absl_logger.addFilter(quiet)
    running_before = _orbax_threads()
    try:
        yield
    except Exception as error:
        reason = disk_full_reason(error)
        if reason is None:
            raise
        for writer in _orbax_threads() - running_before:
            writer.join(timeout=60)
        raise _disk_full_error(epoch, directory, reason) from None
    finally:
        absl_logger.removeFilter(quiet)


def _free_name(directory: pathlib.Path, name: str) -> pathlib.Path:
    """`directory / name`, or `name.1`, `name.2`, ... where that is taken."""
    path, count = directory / name, 0
    while path.exists():
        count += 1
        path = directory / f"{name}.{count}"
    return path


def checksums(state: dict[str, PyTree]) -> dict[str, str]:
    """The SHA-256 of each item's arrays (their paths, dtypes, shapes and bytes), as hex strings."""
    digests = {}
    for name, tree in state.items():
        digest = hashlib.sha256()
        for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(tree))[0]:
            array = np.ascontiguousarray(leaf)
            digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|".encode())
            digest.update(array.tobytes())
        digests[name] = digest.hexdigest()
    return digests


def meta_digest(meta: dict[str, Any]) -> str:
    """The SHA-256 of `meta` without its `digest` field, as canonical JSON (sorted keys, no spaces), in hex.

    `meta` holds the arrays' `checksums`, so this one digest covers the whole checkpoint.
    """
    fields = {key: value for key, value in meta.items() if key != "digest"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


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
            self._tidy()
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
        meta = {**meta, "checksums": checksums(saved)}
        meta["digest"] = meta_digest(meta)
        needed = sum(leaf.nbytes for leaf in jax.tree.leaves(saved)) + SAVE_MARGIN_BYTES
        free = shutil.disk_usage(self.directory).free
        if free < needed:
            reason = f"{os.strerror(errno.ENOSPC)}: {free / 2**20:.1f} MiB free, {needed / 2**20:.1f} MiB needed"
            raise _disk_full_error(epoch, self.directory, reason)
        with _one_line_when_the_disk_is_full(epoch, self.directory):
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
          DamagedCheckpointError: the checkpoint cannot be read, its metadata or arrays do not
            match, or its metadata has no digest.
        """
        folder = self.directory / str(epoch)
        items = {
            name: ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct, tree))
            for name, tree in like.items()
            if jax.tree.leaves(tree)
        }
        try:
            restored = self.manager.restore(epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore(), **items))
            meta = restored["meta"]
            state = {name: restored[name] for name in items}
            digest = meta.get("digest")
        except Exception as error:  # orbax, tensorstore and JSON errors of a damaged folder
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise DamagedCheckpointError(f"checkpoint {folder} cannot be read ({reason})") from None
        if digest is None:
            raise DamagedCheckpointError(
                f"checkpoint {folder} cannot be verified (an older imexjax wrote it, without a digest of its meta)"
            )
        if digest != meta_digest(meta):
            raise DamagedCheckpointError(f"checkpoint {folder} is damaged: its meta differs from that saved")
        damaged = [name for name, actual in checksums(state).items() if meta["checksums"].get(name) != actual]
        if damaged:
            raise DamagedCheckpointError(
                f"checkpoint {folder} is damaged: its {', '.join(damaged)} differ from those saved"
            )
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

    def _delete(self, epochs: list[int]) -> None:
        """Deletes the folders of `epochs`: each is renamed `deleting-EPOCH` first, then removed."""
        self._move_out(epochs, DELETING_PREFIX, remove=True)

    def _move_out(self, epochs: list[int], prefix: str, *, remove: bool) -> list[str]:
        """Renames the folders of `epochs` to free `PREFIXEPOCH` names, out of orbax's sight; removes them if `remove`.

        Process 0 renames; every process waits for it and reloads its view of the steps.

        Returns:
          The new folder names, one per epoch, as process 0 chose them (other processes
          return the first candidates).
        """
        if not epochs:
            return []
        names = []
        for epoch in epochs:
            folder = self.directory / str(epoch)
            if jax.process_index() == 0:
                moved = folder.rename(_free_name(self.directory, f"{prefix}{epoch}"))
                if remove:
                    shutil.rmtree(moved)
                names.append(moved.name)
            else:
                names.append(f"{prefix}{epoch}")
        ocp.multihost.sync_global_processes(f"imexjax-move-out-checkpoints-{prefix}{'-'.join(map(str, epochs))}")
        self.manager.reload()
        return names

    def _tidy(self) -> None:
        """Finishes what a kill or an outside hand left in the folder, before orbax reads it.

        `deleting-EPOCH` folders (deletions cut short) are removed. An epoch without orbax's
        step metadata, which orbax writes before it commits a step, cannot be one orbax
        finished: it is set aside as `damaged-EPOCH`, as stderr says, not deleted.
        """
        if not self.directory.is_dir():
            return
        for folder in sorted(self.directory.iterdir()):
            if folder.name.startswith(DELETING_PREFIX):
                shutil.rmtree(folder)
            elif folder.name.isdigit() and not (folder / STEP_METADATA_FILE).exists():
                moved = folder.rename(_free_name(self.directory, f"{DAMAGED_PREFIX}{folder.name}"))
                print(
                    f"warning: checkpoint {folder} lacks orbax's {STEP_METADATA_FILE} (a save or deletion cut "
                    f"short, or a copy); moved it to {moved.name}",
                    file=sys.stderr,
                )

    def close(self) -> None:
        """Releases the manager."""
        self.manager.close()
