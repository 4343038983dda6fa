r"""`fft_adjoint`: inside its block, `FFTNewton`'s root finds are differentiated by FFT solves.

diffrax's implicit solvers call `optimistix.root_find(fn, root_finder, y0, args, options=...,
throw=False, max_steps=...)` and pass no `adjoint`, so optimistix differentiates every stage
with its default `optimistix.ImplicitAdjoint()`: one linear solve with the stage Jacobian by
lineax's `AutoLinearSolver`, which materialises that Jacobian (N x N, N the state's size) and
LU-factorises it. The adjoint is an argument of `root_find` that optimistix applies around the
root finder (a `custom_jvp` whose tangent rule the root finder's own code cannot reach), so no
root finder can choose it; only the caller of `root_find` can. `fft_adjoint` therefore stands in
for that caller while its block runs: it sets `optimistix.root_find` to a function that passes
`adjoint=optimistix.ImplicitAdjoint(linear_solver=FFTLinearSolver())` when the root finder is
an `FFTNewton` with `linear=True` and the call names no adjoint of its own, and restores the
original function when the block ends. Importing `imexjax.diffrax` changes nothing in
optimistix, diffrax or lineax.
"""

import contextlib
import functools
from collections.abc import Callable, Iterator

import optimistix as optx

from ._linear_solver import FFTLinearSolver
from ._root_finder import FFTNewton


def _with_fft_adjoint(root_find: Callable) -> Callable:
    """Returns `root_find`, giving a linear `FFTNewton` without an adjoint of its own the FFT implicit adjoint.

    Args:
      root_find: `optimistix.root_find` or a function with its signature.

    Returns:
      A function with the signature of `root_find`; every other call passes through unchanged.
    """

    @functools.wraps(root_find)
    def wrapped(fn, solver, y0, args=None, options=None, **kwargs):
        if "adjoint" not in kwargs and isinstance(solver, FFTNewton) and solver.linear:
            kwargs["adjoint"] = optx.ImplicitAdjoint(linear_solver=FFTLinearSolver())
        return root_find(fn, solver, y0, args, options, **kwargs)

    return wrapped


@contextlib.contextmanager
def fft_adjoint() -> Iterator[None]:
    r"""Within the block, gradients through a linear `FFTNewton`'s stages are FFT solves, not dense LU.

    Each implicit stage of diffrax's implicit and IMEX solvers (`KenCarp3/4/5`, `Kvaerno3/4/5`,
    `ImplicitEuler`, `Sil3`) is differentiated by the implicit function theorem: one linear solve
    with the stage Jacobian $J = I + \gamma\, \Delta t\, C^\top C$ at the root. Inside the block,
    a stage whose root finder is `FFTNewton(linear=True)` (the default) gets
    `optimistix.ImplicitAdjoint(linear_solver=imexjax.diffrax.FFTLinearSolver())`, which
    measures J's spectrum at the root (one Jacobian-vector product) and solves by FFT,
    transposes included: reverse and forward mode through `diffrax.diffeqsolve` (with the
    default `RecursiveCheckpointAdjoint`, `DirectAdjoint` or `ForwardMode`) cost a few FFTs per
    stage and never form an N x N array. Forward results are unchanged, bit for bit. Outside the
    block (or with `FFTNewton(linear=False)`, or a call that passes its own `adjoint`) the stage
    keeps optimistix's dense implicit adjoint.

    The choice is made when JAX traces the solve, so the block must enclose the trace of the
    differentiated computation: the `jax.grad(...)(...)` call, or the first call of a jitted
    function (`jax.jit` keeps the trace it made first, in or out of a block). It also works as a
    decorator of a function that traces the whole gradient (`@fft_adjoint()`). While the block
    runs, `optimistix.root_find` is a wrapper of the original (blocks nest; the original is back
    after the outermost one, also on an exception), so blocks must not interleave across
    threads. Like `FFTNewton`'s forward solve, the FFT adjoint assumes that the implicit term is
    a `ConvDiffusionTerm` (or another linear, periodic, translation-invariant, depthwise term on
    states of shape (..., H, W, channels)) and is wrong without it.

    Example:
        solver = diffrax.KenCarp4(root_finder=imexjax.diffrax.FFTNewton())
        with imexjax.diffrax.fft_adjoint():
            grads = jax.grad(loss)(kernel, y0)      # loss calls diffeqsolve with `solver`

    Yields:
      None.
    """
    original = optx.root_find
    optx.root_find = _with_fft_adjoint(original)
    try:
        yield
    finally:
        optx.root_find = original
