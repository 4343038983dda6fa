"""Checks of option values that raise a one-line `ConfigError` naming the option's flag."""

from typing import Any

from ._errors import ConfigError


def check_choice(field: str, value: Any, allowed: tuple[str, ...]) -> None:
    """Raises ConfigError unless `value` is one of `allowed`; the message names the flag of `field`."""
    if value not in allowed:
        raise ConfigError(f"unknown {_flag(field)} {value!r}; choose one of {', '.join(allowed)}")


def check_positive_integers(config: Any, fields: tuple[str, ...]) -> None:
    """Raises ConfigError naming the first of `config`'s `fields` that is not an integer >= 1."""
    for field in fields:
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{_flag(field)} must be a positive integer, got {value!r}")


def _flag(field: str) -> str:
    return field.replace("_", "-")
