"""JAX's persistent compilation cache, opt-in: compiled programs kept on disk and reused by later runs."""

import os
import pathlib
from typing import Any

import jax

from .._errors import ConfigError

_COUNTED_EVENTS = {"/jax/compilation_cache/cache_hits": "hits", "/jax/compilation_cache/cache_misses": "misses"}
_counts: dict[str, int] = {}
"""Cache hits and misses of this process, counted from the first `enable_compilation_cache`."""


def default_compilation_cache_dir() -> pathlib.Path:
    """`$XDG_CACHE_HOME/imexjax/jax`, or `~/.cache/imexjax/jax` where `XDG_CACHE_HOME` is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "imexjax" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> pathlib.Path:
    """Turns on JAX's persistent compilation cache in folder `path`, for this process.

    Every program compiled afterwards (a model's initialization, the training and evaluation
    steps) is written to the folder, and a later process that compiles the same program on
    the same platform reads it instead of compiling. JAX keys each entry by the program, the
    jaxlib version, the backend and its version, the devices, the compile options and the
    XLA flags, so an entry of another version, device or flag set is never used; XLA refuses
    an executable compiled for CPU features the machine lacks, and JAX then compiles anew.
    Entries of any size and compile time are kept.

    Call it before the first compilation (JAX reads the setting once). It changes JAX's
    global configuration, so the library never calls it on import: the experiment scripts
    call it at start-up.

    Args:
      path: the folder; None takes `JAX_COMPILATION_CACHE_DIR` where the environment sets
        it, else `default_compilation_cache_dir()`. Created if missing.

    Returns:
      The folder in use.

    Raises:
      ConfigError: the folder cannot be created.
    """
    if path is None:
        path = jax.config.jax_compilation_cache_dir or default_compilation_cache_dir()
    folder = pathlib.Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create the compilation cache folder {folder} ({error.strerror})") from None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    if not _counts:
        _counts.update(hits=0, misses=0)
        jax.monitoring.register_event_listener(_count_event)
    return folder


def _count_event(event: str, **kwargs: Any) -> None:
    if event in _COUNTED_EVENTS:
        _counts[_COUNTED_EVENTS[event]] += 1


def compilation_cache_info() -> dict[str, Any] | None:
    """The cache in use, for `metrics.json`: `{"dir", "hits", "misses"}`, or None where it is off.

    Off: no folder set, or `jax_enable_compilation_cache` false. `hits` counts the programs this
    process read from the cache, `misses` those it compiled and wrote to it, from the first
    `enable_compilation_cache` on (absent where the cache was turned on another way, by
    `JAX_COMPILATION_CACHE_DIR` alone).
    """
    folder = jax.config.jax_compilation_cache_dir
    if folder is None or not jax.config.jax_enable_compilation_cache:
        return None
    return {"dir": str(folder), **_counts}
