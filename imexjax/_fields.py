"""What a config field says of itself: its help, and how it reads from and writes to text.

Each field of `TrainConfig` (and of the configs that extend it) carries `dataclasses.field`
metadata built by `described`; a command-line tool builds the field's flag from it. The
parsers here read syntax only (numbers, pairs, lists): whether a value is allowed is the
config's check, or the check of the layer that owns the option.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

HELP = "help"
"""Metadata key: what the field means, one paragraph."""
FLAG = "flag"
"""Metadata key: the field's short name on a command line, where it has one (`lr` for `learning_rate`)."""
METAVAR = "metavar"
"""Metadata key: how the field's value is written in a usage line (`{adam,sgd}`, `HxW`)."""
PARSE = "parse"
"""Metadata key: `text -> value`; raises ValueError on text of another syntax."""
FORMAT = "format"
"""Metadata key: `value -> text`, the inverse of `PARSE`."""


def described(
    help: str,
    *,
    default: Any = dataclasses.MISSING,
    flag: str | None = None,
    metavar: str | None = None,
    parse: Callable[[str], Any] | None = None,
    format: Callable[[Any], str] | None = None,
) -> Any:
    """A `dataclasses.field` with `default` whose metadata holds its help and text form.

    Args:
      help: what the field means.
      default: the field's default, if it has one.
      flag: a short name of the field's flag (without dashes), kept beside its own name.
      metavar: the value's form in a usage line; default: the field's name in capitals.
      parse: reads the value from text (default: the type of the default value).
      format: writes the value as `parse` reads it (default: numbers as `%g`, others `str`).
    """
    metadata = {HELP: " ".join(help.split()), FLAG: flag, METAVAR: metavar, PARSE: parse, FORMAT: format}
    return dataclasses.field(default=default, metadata=metadata)


def choices(names: tuple[str, ...] | dict[str, Any]) -> str:
    """`("adam", "sgd")` -> `{adam,sgd}`: the names a field takes, as a usage line writes them."""
    return "{" + ",".join(names) + "}"


def parse_blocks(text: str) -> tuple[tuple[int, int], ...]:
    """`"9x16"` or `"4x64,4x128"` -> `((9, 16),)` / `((4, 64), (4, 128))`: blocks of LAYERSxWIDTH.

    Raises:
      ValueError: `text` is not integer pairs joined by `x`, separated by commas.
    """
    try:
        return tuple(_pair(block, "x", int) for block in text.split(","))
    except ValueError:
        raise ValueError(f"expected LAYERSxWIDTH[,LAYERSxWIDTH...], such as 9x16, got {text!r}") from None


def format_blocks(blocks: tuple[tuple[int, int], ...]) -> str:
    """`((4, 64), (4, 128))` -> `4x64,4x128`."""
    return ",".join(f"{layers}x{width}" for layers, width in blocks)


def parse_size(text: str) -> tuple[int, int]:
    """`"48x64"` -> `(48, 64)`: HEIGHTxWIDTH, two integers.

    Raises:
      ValueError: `text` is not two integers joined by `x`.
    """
    try:
        return _pair(text, "x", int)
    except ValueError:
        raise ValueError(f"expected HEIGHTxWIDTH, such as 48x64, got {text!r}") from None


def format_size(size: tuple[int, int]) -> str:
    """`(48, 64)` -> `48x64`."""
    return "x".join(str(v) for v in size)


def parse_scale(text: str) -> float | tuple[float, float]:
    """`"8"` -> `8.0`, `"1:16"` -> `(1.0, 16.0)`: a number, or LOW:HIGH.

    Raises:
      ValueError: `text` is not one number or two joined by `:`.
    """
    try:
        values = tuple(float(v) for v in text.split(":"))
    except ValueError:
        values = ()
    if len(values) not in (1, 2):
        raise ValueError(f"expected a number or LOW:HIGH, got {text!r}")
    return values[0] if len(values) == 1 else values


def format_scale(scale: float | tuple[float, float]) -> str:
    """`(1.0, 16.0)` -> `1:16`, `8.0` -> `8`."""
    return ":".join(f"{v:g}" for v in scale) if isinstance(scale, tuple) else f"{scale:g}"


def parse_names(text: str) -> str | tuple[str, ...]:
    """`"zero"` -> `"zero"`, `"periodic,reflect"` -> `("periodic", "reflect")`: one name, or one per block."""
    names = tuple(name.strip() for name in text.split(","))
    return names[0] if len(names) == 1 else names


def format_names(names: str | tuple[str, ...]) -> str:
    """`("periodic", "reflect")` -> `periodic,reflect`."""
    return ",".join(names) if isinstance(names, tuple) else names


SWITCH: dict[str, bool | None] = {"on": True, "off": False, "auto": None}
"""The words of a three-way switch (`remat`) and their values."""


def parse_switch(text: str) -> bool | None:
    """`on` -> True, `off` -> False, `auto` -> None.

    Raises:
      ValueError: another word.
    """
    if text not in SWITCH:
        raise ValueError(f"expected on, off or auto, got {text!r}")
    return SWITCH[text]


def format_switch(value: bool | None) -> str:
    """True -> `on`, False -> `off`, None -> `auto`."""
    return next(word for word, v in SWITCH.items() if v is value)


def format_value(value: Any) -> str:
    """A value of a field without a `FORMAT`: numbers as `%g`, the rest as `str`."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _pair(text: str, separator: str, kind: type) -> tuple[Any, Any]:
    first, second = text.lower().split(separator)
    return kind(first), kind(second)
