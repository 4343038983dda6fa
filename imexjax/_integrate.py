"""The `integrate` driver: a scan of a solver's step over per-step parameters."""

import math
import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import PyTree, Scalar
from ._reflect import check_symmetric
from .operators import ConvDiffusion
from .solvers import AbstractSolver


def integrate(
    solver: AbstractSolver,
    terms: Any,
    y0: PyTree,
    args: PyTree,
    *,
    h: Scalar,
    t0: Scalar = 0.0,
    num_steps: int | None = None,
    unroll: int | bool = 1,
    remat: bool = False,
    trajectory: bool = False,
    has_aux: bool = False,
    staged: bool = False,
) -> PyTree:
    """Integrates `dy/dt = F(t, y)` over N fixed steps of size `h`, one parameter slice per step.

    Step n (0 <= n < N) runs from `t0 + n h` to `t0 + (n + 1) h` with parameters
    `jax.tree.map(lambda a: a[n], args)`, as a residual network applies layer n.

    Args:
      solver: an explicit solver (`Euler`, `Midpoint`, `RK4`) or an IMEX-type one
        (`IMEXEuler`, `IMEXRK2`, and the exponential integrators `ExpEuler`, `ETDRK2`, each
        also as `PaperForm(solver)`): any `AbstractSolver`, its `imex` flag saying which.
      terms: for explicit solvers a vector field `f(t, y, args) -> dy/dt`; for IMEX-type
        solvers a pair `(f_explicit, implicit)` with `implicit` a linear term such as
        `ConvDiffusion` that has the solver's `linear_methods`.
      y0: the initial state, any pytree of floating arrays.
      args: per-step parameters, a pytree whose leaves all have a leading axis of length N;
        for IMEX solvers a pair `(explicit_args, implicit_args)` of such pytrees. With a
        `ConvDiffusion` implicit term of symmetric kernels (`reflect`, or `symmetric=True`), concrete kernels `args[1]`
        (N, k, k, C) must be symmetric under both flips; traced ones (under `jit`) cannot
        be checked, and each step uses the mean of its kernel's four flips.
      h: the step size, a positive finite number that the dtype of every leaf of `y0`
        holds as a normal number (may be a traced scalar under `jit`, in which case it is
        not checked).
      t0: the initial time.
      num_steps: N; required only when `args` has no leaves, otherwise it must agree.
      unroll: steps unrolled per loop iteration of `jax.lax.scan`: an int >= 1, or True
        for all of them. The rolled loop (1) compiles in a time independent of N and, on
        CPU, measured as fast per step as the unrolled one for the layers of
        `imexjax.models` (GPU and TPU not yet measured). On CPU, XLA runs the
        gradient of a plain `jax.lax.conv_general_dilated` about 20x more slowly inside a
        loop: convolve with `imexjax.models.conv2d` in your own fields, or unroll.
      remat: rematerialize each step in the backward pass (`jax.checkpoint`), trading
        compute for memory that no longer grows with N.
      trajectory: return every state instead of the last one.
      has_aux: the vector field (for IMEX solvers the explicit one) returns a pair
        `(dy/dt, aux)`; the `aux` of every stage of every step is returned too. This
        carries per-step side results out of the scan, such as the updated running
        statistics of a batch normalization.
      staged: the vector field (for IMEX solvers the explicit one) takes a fourth
        argument, `f(t, y, args, stage)`: the index of the evaluation within the step, 0
        to `solver.stages - 1` in the order the solver makes them, so a layer can keep
        state per stage (a batch normalization's running statistics).

    Returns:
      The state after the last step, with the structure of `y0`; or, with
      `trajectory=True`, the states `y_0, ..., y_N` stacked on a new leading axis of
      length N + 1. With `has_aux=True`, a pair of that and the `aux` of every stage,
      its leaves stacked on two new leading axes, (N, solver.stages, ...).

    Raises:
      TypeError: `solver` is not a solver, `terms` or `args` do not fit it, a leaf of
        `y0` is not a floating array, or the solver evaluates the field other than
        `solver.stages` times a step.
      ValueError: `h` is not positive and finite or not a normal number of the dtype of a
        leaf of `y0` (float32: 1.2e-38 to 3.4e38), the leaves of `args` disagree on N,
        N is unknown or disagrees with `num_steps`, `unroll` is not positive, or a concrete
        kernel of a symmetric-kernel ConvDiffusion is not symmetric under both flips.
    """
    if not isinstance(solver, AbstractSolver):
        raise TypeError(
            f"solver must be an imexjax solver such as imexjax.Euler() or imexjax.IMEXEuler(), got {solver!r}"
        )
    _check_terms(solver, terms, args)
    _check_implicit_kernels(solver, terms, args)
    _check_state(y0)
    _check_step_size(h, y0)
    n = _number_of_steps(args, num_steps)
    if unroll is True:
        unroll = max(n, 1)
    elif isinstance(unroll, bool) or not _is_integer(unroll) or unroll < 1:
        raise ValueError(f"unroll must be a positive int or True, got {unroll!r}")
    else:
        unroll = operator.index(unroll)

    def body(carry, step_args):
        t, y = carry
        recorded: list[PyTree] = []
        y_next = solver.step(_staged_terms(solver, terms, recorded, has_aux, staged), t, y, step_args, h)
        if len(recorded) != solver.stages:
            raise TypeError(
                f"{type(solver).__name__} evaluated its field {len(recorded)} times in a step, but its stages "
                f"say {solver.stages}; set its stages to the evaluations its step makes"
            )
        aux = jax.tree.map(lambda *stages: jnp.stack(stages), *recorded) if has_aux else None
        return (t + h, y_next), (y_next if trajectory else None, aux)

    if remat:
        body = jax.checkpoint(body)
    t_start = jnp.asarray(t0, dtype=jnp.result_type(float))
    (_, y_final), (ys, aux) = jax.lax.scan(body, (t_start, y0), args, length=n, unroll=min(unroll, max(n, 1)))
    if trajectory:
        y_final = jax.tree.map(
            lambda first, rest: jnp.concatenate([jnp.asarray(first, rest.dtype)[None], rest]), y0, ys
        )
    return (y_final, aux) if has_aux else y_final


def _staged_terms(solver: AbstractSolver, terms: Any, recorded: list[PyTree], has_aux: bool, staged: bool) -> Any:
    """`terms` with its field wrapped: it counts its calls in `recorded` (their `aux`, if `has_aux`), passes the
    stage index if `staged`, and returns `dy` alone."""
    field = terms[0] if solver.imex else terms

    def counted(t, y, args):
        output = field(t, y, args, len(recorded)) if staged else field(t, y, args)
        if not has_aux:
            recorded.append(None)
            return output
        if not (isinstance(output, tuple) and len(output) == 2):
            raise TypeError(
                f"with has_aux=True the vector field must return a pair (dy/dt, aux), got {type(output).__name__}"
            )
        recorded.append(output[1])
        return output[0]

    return (counted, terms[1]) if solver.imex else counted


def _check_terms(solver: AbstractSolver, terms: Any, args: PyTree) -> None:
    name = type(solver).__name__
    if solver.imex:
        if not (isinstance(terms, tuple) and len(terms) == 2 and callable(terms[0])):
            raise TypeError(f"{name} needs terms=(f_explicit, implicit), a vector field and a linear term")
        methods = solver.linear_methods
        if not all(hasattr(terms[1], method) for method in methods):
            listed = " and ".join(", ".join(f".{method}" for method in methods).rsplit(", ", 1))
            raise TypeError(
                f"{name} needs an implicit linear term with {listed} (e.g. imexjax.ConvDiffusion()), got {terms[1]!r}"
            )
        if not (isinstance(args, tuple) and len(args) == 2):
            raise TypeError(f"{name} needs args=(explicit_args, implicit_args), got {type(args).__name__}")
    elif not callable(terms):
        raise TypeError(f"{name} needs terms to be a vector field f(t, y, args), got {terms!r}")


def _check_implicit_kernels(solver: AbstractSolver, terms: Any, args: PyTree) -> None:
    """The check `ConvDiffusion` makes of one kernel, made of the concrete stack (N, k, k, C) before the scan."""
    if not (solver.imex and isinstance(terms[1], ConvDiffusion) and terms[1].kernel_symmetric):
        return
    kernels = args[1]
    if isinstance(kernels, (jax.Array, np.ndarray)) and kernels.ndim == 4:
        check_symmetric(kernels, "args[1]", boundary=terms[1].boundary)


def _check_step_size(h: Scalar, y0: PyTree) -> None:
    if isinstance(h, jax.core.Tracer):
        return
    if isinstance(h, (str, bytes, bool)) or jnp.iscomplexobj(h):
        raise TypeError(f"h must be a real scalar step size, got {h!r}")
    try:
        value = float(h)
    except (TypeError, ValueError):
        raise TypeError(f"h must be a real scalar step size, got {h!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"h must be a positive finite step size, got {value}")
    for dtype in sorted({jnp.result_type(leaf) for leaf in jax.tree.leaves(y0)}, key=str):
        info = jnp.finfo(dtype)
        if not float(info.tiny) <= value <= float(info.max):
            raise ValueError(
                f"h={value:g} is beyond what the state's dtype {dtype} holds ({float(info.tiny):.3g} to "
                f"{float(info.max):.3g}); use a step size in that range or a wider dtype for y0"
            )


def _check_state(y0: PyTree) -> None:
    leaves = jax.tree.leaves(y0)
    if not leaves:
        raise ValueError("y0 has no arrays: pass the initial state as an array or a pytree of arrays")
    for leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"y0 must hold floating-point arrays, got dtype {dtype}; convert it first, e.g. y0.astype(jnp.float32)"
            )


def _number_of_steps(args: PyTree, num_steps: int | None) -> int:
    leaves = jax.tree.leaves(args)
    lengths = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if None in lengths:
        raise ValueError("every leaf of args needs a leading axis of length N (the number of steps); found a scalar")
    if len(lengths) > 1:
        raise ValueError(
            f"the leaves of args disagree on the number of steps (leading axis lengths {sorted(lengths)}); "
            "stack per-step parameters on a common leading axis"
        )
    if not lengths:
        if num_steps is None:
            raise ValueError("args has no arrays to count steps from: pass num_steps=N")
        n = num_steps
    else:
        n = lengths.pop()
        if num_steps is not None and num_steps != n:
            raise ValueError(f"num_steps={num_steps} disagrees with the leading axis of args ({n})")
    if isinstance(n, bool) or not _is_integer(n) or n < 0:
        raise ValueError(f"num_steps must be a non-negative int, got {n!r}")
    return operator.index(n)


def _is_integer(value: object) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True
