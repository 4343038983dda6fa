"""Ctrl-C in the experiment scripts: one line on stderr and exit status 130, at any moment.

A script imports this module first (`import _interrupts`, standard library only), before
JAX and imexjax. When the script runs as the main program, SIGINT (Ctrl-C, `kill -INT`) then
writes `MESSAGE` and ends the process with `os._exit(130)`: from within the imports, start-up,
compilation or training alike, with no traceback, and without the interpreter's teardown,
which can crash while JAX's and orbax's threads still run. What a run has written stays: its
checkpoints and run files are written to survive a kill, so rerunning the command resumes.
Imported by another program (tests load the scripts as modules), it installs nothing.
"""

import os
import signal
import sys
from pathlib import Path

MESSAGE = "interrupted: rerun the same command to resume from the last checkpoint"
"""The line a script writes on Ctrl-C (`imexjax.recipes.run_command` writes the same in-process)."""

INTERRUPTED_STATUS = 130
"""The exit status after Ctrl-C: 128 + SIGINT, as shells report a process that SIGINT ended."""


def _exit_now(signal_number: int, frame: object) -> None:
    """Writes `MESSAGE` and exits with `INTERRUPTED_STATUS` without unwinding or teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, RuntimeError):  # closed, or interrupted in the middle of a write
            pass
    clear_line = "\r\x1b[K" if os.isatty(2) else ""  # on a terminal, in place of a progress bar's line
    os.write(2, f"{clear_line}{MESSAGE}\n".encode())
    os._exit(INTERRUPTED_STATUS)


def _runs_a_script_of_this_folder() -> bool:
    """Whether the main program is a script beside this module (`python experiments/qtips.py`)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is not None and Path(main_file).resolve().parent == Path(__file__).resolve().parent


if _runs_a_script_of_this_folder():
    signal.signal(signal.SIGINT, _exit_now)
