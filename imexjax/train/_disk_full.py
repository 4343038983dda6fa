"""A full disk while a run writes: `DiskFullError`, and orbax's failed writes turned into it in one line."""

import contextlib
import errno
import logging
import os
import pathlib
import re
import threading
from collections.abc import Iterator

from .._errors import UserError


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


def checkpoint_disk_full_error(epoch: int, directory: pathlib.Path, reason: str) -> DiskFullError:
    """The error of a checkpoint of `epoch` that cannot be written to `directory` for `reason`."""
    return DiskFullError(
        f"cannot write the checkpoint of epoch {epoch} to {directory} ({reason}); the checkpoints before it "
        "are kept: free space there and rerun the same command to resume"
    )


class _DropDiskFullTracebacks(logging.Filter):
    """Drops log records carrying a disk-full error: orbax logs each with its traceback, `save` says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and disk_full_reason(record.exc_info[1]))


def _orbax_threads() -> set[threading.Thread]:
    """The running threads of orbax's classes (its background writers)."""
    return {thread for thread in threading.enumerate() if type(thread).__module__.startswith("orbax.")}


@contextlib.contextmanager
def one_line_when_the_disk_is_full(epoch: int, directory: pathlib.Path) -> Iterator[None]:
    """Turns a disk-full error inside the block into `DiskFullError`, without orbax's logged tracebacks.

    Orbax raises at the first failed write while its other writers of the save still run;
    they are waited for (a minute at most), so that none is cut off by the exit that follows
    and logs that instead.

    Args:
      epoch: the epoch the block saves, named in the error.
      directory: the checkpoints folder, named in the error.
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
        raise checkpoint_disk_full_error(epoch, directory, reason) from None
    finally:
        absl_logger.removeFilter(quiet)
