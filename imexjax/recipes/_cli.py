"""The experiment scripts' one error exit: a parser whose usage errors are one line, and `run_command`.

Errors from the library name config fields and engine arguments in words (`batch_size`,
`workdir`); `run_command` puts the flag that sets each in its place, read from the script's
own parser (`flag_names`), so a message names what the user typed.
"""

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from .._errors import UserError


class OneLineErrorParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose usage errors are one line and exit status 1.

    A bad flag prints `error: MESSAGE; see SCRIPT --help` on stderr, without the usage, as every
    other error of the scripts does; `--help` prints the help and exits 0 as usual.
    """

    def error(self, message: str) -> NoReturn:
        """Prints `message` as one `error:` line and exits with status 1."""
        self.exit(1, f"error: {' '.join(message.split())}; see {self.prog} --help\n")


def flag_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """`dest -> flag` for every optional argument of `parser`: its first option string (`learning_rate -> --lr`)."""
    return {
        action.dest: action.option_strings[0]
        for action in parser._actions
        if action.option_strings and action.dest != argparse.SUPPRESS
    }


def name_flags(message: str, fields: Sequence[str], flags: dict[str, str]) -> str:
    """`message` with each of `fields` replaced by its flag in `flags`.

    The first whole-word occurrence of a field's name becomes its flag (`batch_size must be...`
    -> `--batch-size must be...`); a field whose name does not occur prefixes its flag
    (`--norm: unknown normalization...`). Fields without a flag, and flags the message
    already names, are left as they are.
    """
    for field in fields:
        flag = flags.get(field)
        if flag is None or re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", message):
            continue
        message, count = re.subn(rf"(?<![\w-]){re.escape(field)}(?![\w-])", flag, message, count=1)
        if not count:
            message = f"{flag}: {message}"
    return message


def error_fields(error: BaseException) -> tuple[str, ...]:
    """The fields an error names: its `fields`, else its `field` (`ConfigError`), else none."""
    fields = getattr(error, "fields", None)
    if fields:
        return tuple(fields)
    field = getattr(error, "field", None)
    return (field,) if field else ()


def run_command(command: Callable[[], int], parser: argparse.ArgumentParser | None = None) -> int:
    """Runs a script's `command`; a `UserError` or Ctrl-C becomes one line on stderr and an exit status.

    Args:
      command: the script's work, returning its exit status.
      parser: the script's parser: the fields an error names (`ConfigError.field`) are written
        as the flags that set them (`name_flags`).

    Returns:
      `command()`'s status; 1 after a `UserError` (its message printed as `error: ...`, no
      traceback); 130 after Ctrl-C (checkpoints already written stay, so rerunning resumes).
    """
    try:
        return command()
    except UserError as error:
        message = str(error)
        if parser is not None:
            message = name_flags(message, error_fields(error), flag_names(parser))
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
