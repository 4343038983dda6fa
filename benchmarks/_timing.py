"""Wall-clock timing shared by the benchmark scripts.

Every timed call is synchronized with `jax.block_until_ready`, so that it measures the work and
not only its dispatch, and timed with `time.perf_counter`. The scripts import it as a sibling
(`from _timing import ...`): `python benchmarks/NAME.py` puts `benchmarks/` first on `sys.path`.
"""

import statistics
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import jax

Key = TypeVar("Key", bound=Hashable)


def compile_seconds(function: jax.stages.Wrapped, *args: Any) -> tuple[jax.stages.Compiled, float]:
    """Compiles a jitted function ahead of time for `args`, and times the compilation.

    Args:
        function: a `jax.jit`-wrapped function.
        *args: example arguments (arrays or pytrees of arrays); the compiled callable accepts
            arguments of the same shapes and dtypes.

    Returns:
        The compiled callable (`function.lower(*args).compile()`) and the seconds that lowering
        and compiling took.
    """
    start = time.perf_counter()
    compiled = function.lower(*args).compile()
    return compiled, time.perf_counter() - start


def call_seconds(
    function: Callable[..., Any], *args: Any, repeats: int, warm_up: bool = True
) -> tuple[list[float], Any]:
    """Times `repeats` calls of `function(*args)`, after one untimed warm-up call.

    Args:
        function: the callable to time; its outputs are waited for with `jax.block_until_ready`.
        *args: its arguments, the same for every call.
        repeats: how many timed calls.
        warm_up: whether to make one untimed call first (not needed after `compile_seconds`
            when the first call is meant to be timed too).

    Returns:
        The seconds of each timed call, in order, and the output of the last call (`None` when
        `repeats` is 0).
    """
    if warm_up:
        jax.block_until_ready(function(*args))
    seconds = []
    output = None
    for _ in range(repeats):
        start = time.perf_counter()
        output = jax.block_until_ready(function(*args))
        seconds.append(time.perf_counter() - start)
    return seconds, output


def step_seconds(
    step: Callable[..., tuple[Any, Any]], state: Any, *args: Any, repeats: int
) -> tuple[list[float], Any, Any]:
    """Times `repeats` calls of a step that threads its state, after one untimed warm-up step.

    Each call is `state, output = step(state, *args)`, the next call taking the state the last
    one returned; what is waited for is `output`.

    Args:
        step: the step, e.g. a compiled training step `(state, *batch) -> (state, sums)`.
        state: the state the warm-up step starts from.
        *args: the step's other arguments, the same for every call.
        repeats: how many timed steps.

    Returns:
        The seconds of each timed step, in order, the state after the last step, and the last
        step's output.
    """

    def call() -> Any:
        nonlocal state
        state, output = step(state, *args)
        return output

    seconds, output = call_seconds(call, repeats=repeats)
    return seconds, state, output


def median_seconds(function: Callable[..., Any], *args: Any, repeats: int) -> float:
    """Median seconds of `repeats` synchronized calls of `function(*args)` after one warm-up call.

    Args:
        function: the callable to time.
        *args: its arguments, the same for every call.
        repeats: how many timed calls (at least 1).

    Returns:
        The median of the timed calls' seconds.
    """
    return statistics.median(call_seconds(function, *args, repeats=repeats)[0])


def interleaved_medians(
    calls: Mapping[Key, tuple[Callable[..., Any], Sequence[Any]]], repeats: int
) -> dict[Key, float]:
    """Median seconds of several functions timed in turn (A, B, C, A, B, C, ...), round after round.

    In every round each function is called once untimed and once timed, so that the load of a
    shared machine falls on all of them alike and their ratios are measured side by side.

    Args:
        calls: for each key, the function and the tuple of its arguments.
        repeats: how many rounds (at least 1).

    Returns:
        For each key of `calls`, in its order, the median seconds of its timed calls.
    """
    seconds: dict[Key, list[float]] = {key: [] for key in calls}
    for _ in range(repeats):
        for key, (function, args) in calls.items():
            seconds[key] += call_seconds(function, *args, repeats=1)[0]
    return {key: statistics.median(samples) for key, samples in seconds.items()}
