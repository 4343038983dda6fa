"""The step folders of a checkpoints directory outside orbax: moved out of its sight, removed, tidied.

Orbax reads every folder named by a number as a step. A step is deleted by renaming its folder
`deleting-EPOCH` first and then removing it, so a kill midway leaves nothing orbax would read;
a damaged step is renamed `damaged-EPOCH` and kept for inspection.
"""

import pathlib
import shutil
import sys

import jax
import orbax.checkpoint as ocp

STEP_METADATA_FILE = "_CHECKPOINT_METADATA"
"""The file orbax writes into every step before it commits it; a step without it was being deleted."""

DELETING_PREFIX = "deleting-"
"""A step folder is renamed `deleting-EPOCH` before it is removed, out of orbax's sight."""

DAMAGED_PREFIX = "damaged-"
"""A damaged step folder is renamed `damaged-EPOCH`, kept for inspection out of orbax's sight."""


def free_name(directory: pathlib.Path, name: str) -> pathlib.Path:
    """`directory / name`, or `name.1`, `name.2`, ... where that is taken."""
    path, count = directory / name, 0
    while path.exists():
        count += 1
        path = directory / f"{name}.{count}"
    return path


def move_out(directory: pathlib.Path, epochs: list[int], prefix: str, *, remove: bool) -> list[str]:
    """Renames the step folders of `epochs` to free `PREFIXEPOCH` names, out of orbax's sight; removes them if `remove`.

    Process 0 renames; every process waits for it (the caller then reloads its manager's view
    of the steps).

    Args:
      directory: the checkpoints folder.
      epochs: the steps to move.
      prefix: `DELETING_PREFIX` or `DAMAGED_PREFIX`.
      remove: remove each folder once it is renamed.

    Returns:
      The new folder names, one per epoch, as process 0 chose them (other processes return
      the first candidates).
    """
    names = []
    for epoch in epochs:
        folder = directory / str(epoch)
        if jax.process_index() == 0:
            moved = folder.rename(free_name(directory, f"{prefix}{epoch}"))
            if remove:
                shutil.rmtree(moved)
            names.append(moved.name)
        else:
            names.append(f"{prefix}{epoch}")
    ocp.multihost.sync_global_processes(f"imexjax-move-out-checkpoints-{prefix}{'-'.join(map(str, epochs))}")
    return names


def tidy(directory: pathlib.Path) -> None:
    """Finishes what a kill or an outside hand left in `directory`, before orbax reads it.

    `deleting-EPOCH` folders (deletions cut short) are removed. An epoch without orbax's step
    metadata, which orbax writes before it commits a step, cannot be one orbax finished: it is
    set aside as `damaged-EPOCH`, as stderr says, not deleted.
    """
    if not directory.is_dir():
        return
    for folder in sorted(directory.iterdir()):
        if folder.name.startswith(DELETING_PREFIX):
            shutil.rmtree(folder)
        elif folder.name.isdigit() and not (folder / STEP_METADATA_FILE).exists():
            moved = folder.rename(free_name(directory, f"{DAMAGED_PREFIX}{folder.name}"))
            print(
                f"warning: checkpoint {folder} lacks orbax's {STEP_METADATA_FILE} (a save or deletion cut "
                f"short, or a copy); moved it to {moved.name}",
                file=sys.stderr,
            )
