"""Checks of option values that raise a one-line `ConfigError` naming the option's field.

The messages name a field as it is spelled in the code (`batch_size`, `num_train`), and the
error carries it (`ConfigError.field`, or `FieldsError.fields` where a fix names several):
a command-line tool puts the field's flag in its place.
"""

from collections.abc import Sequence
from typing import Any

from ._errors import ConfigError


class FieldsError(ConfigError):
    """A `ConfigError` whose message names several fields, such as a fix that offers each.

    Attributes:
      fields: the fields the message names, in the order it names them; `field` is the first.
    """

    def __init__(self, message: str = "", *, fields: Sequence[str]):
        super().__init__(message, field=fields[0] if fields else None)
        self.fields = tuple(fields)


def check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    """Raises ConfigError (about `field`) unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ConfigError(f"unknown {field} {value!r}; choose one of {', '.join(allowed)}", field=field)


def check_positive_integers(config: Any, fields: tuple[str, ...]) -> None:
    """Raises ConfigError naming the first of `config`'s `fields` that is not an integer >= 1."""
    for field in fields:
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{field} must be a positive integer, got {value!r}", field=field)
