"""`FFTNewton`: an optimistix root finder whose linear solves are FFTs (its adjoint: see `fft_adjoint`)."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jaxtyping import Array, PyTree, Scalar

from ._linear_solver import impulse_spectrum, spectral_solve


class _FFTNewtonState(eqx.Module):
    spectrum: PyTree[Array]  # per leaf: rfft2 of the Jacobian's impulse response, (..., C, H, W//2+1)
    diffsize: Scalar
    diffsize_prev: Scalar
    result: optx.RESULTS
    step: Array


class FFTNewton(optx.AbstractRootFinder):
    """Newton's method whose linear solve is a division in Fourier space.

    For the implicit stages of diffrax's implicit and IMEX solvers (`ImplicitEuler`,
    `Kvaerno3/4/5`, `KenCarp3/4/5`, `Sil3`) when the implicitly treated term is an
    `imexjax.diffrax.ConvDiffusionTerm` (or any linear, periodic, translation-invariant,
    depthwise operator on states of shape (..., H, W, channels)). Then the stage
    equation's Jacobian `J = I - a dt A` (a the tableau's diagonal) is a periodic
    depthwise convolution, diagonalised by the 2-D DFT. `init` measures it: the response
    of `J` (one Jacobian-vector product) to a unit impulse at pixel (0, 0) of every
    channel, whose rfft2 is J's spectrum; each Newton step then solves `J d = F(y)` as
    `irfft2(rfft2(F(y)) / spectrum)`: O(N log N), no dense Jacobian, and exact up to
    rounding, so the stage is solved in one step.

    Pass it as `diffrax.KenCarp4(root_finder=FFTNewton())`. Unlike diffrax's default
    `VeryChord` (a dense Jacobian, LU, and a convergence test that needs two or more
    iterations and that fails in float32 at tight tolerances), it neither needs
    tolerances nor iterates.

    Gradients. optimistix differentiates a stage by the implicit function theorem: one
    linear solve with the Jacobian `J` at the root, with the `adjoint` the caller of
    `optimistix.root_find` passes. diffrax passes none, so the default
    `optx.ImplicitAdjoint()` materialises `J` (N x N, N the state's size) and
    LU-factorises it. Inside `with imexjax.diffrax.fft_adjoint():` a linear `FFTNewton`'s
    stages get `optx.ImplicitAdjoint(linear_solver=imexjax.diffrax.FFTLinearSolver())`
    instead, which measures `J`'s spectrum at the root as `init` does and solves by FFT
    (see `fft_adjoint`). A root find called directly can pass that adjoint itself:
    `optx.root_find(fn, FFTNewton(), y0, adjoint=optx.ImplicitAdjoint(linear_solver=FFTLinearSolver()))`.
    With `linear=False` the Jacobian at the root need not be a periodic convolution, and
    the stage keeps the dense adjoint in or out of the block. (`BacksolveAdjoint` never
    differentiates a root find: its backward solve runs the solver on the adjoint system;
    the diffrax guide of the documentation says more.)

    Attributes:
      linear: the stage equation is linear (the implicit term is linear), so one Newton
        step is exact and the solve stops after it. With `linear=False` it iterates
        (a chord method: the spectrum from `init`, refreshed when diffrax asks) until
        the update is below the tolerances, as diffrax's `VeryChord` does.
      rtol, atol, norm, kappa: convergence test when `linear=False` (as `VeryChord`).
    """

    rtol: float = 1e-6
    atol: float = 1e-6
    norm: Callable[[PyTree], Scalar] = optx.max_norm
    kappa: float = 1e-2
    linear: bool = eqx.field(static=True, default=True)

    def init(self, fn, y, args, options: dict[str, Any], f_struct, aux_struct, tags) -> _FFTNewtonState:
        del f_struct, aux_struct, tags
        if "init_state" in options:
            return options["init_state"]
        structure = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(jnp.shape(leaf), jnp.result_type(leaf)), y)

        def jacobian(v):
            return jax.jvp(lambda z: fn(z, args)[0], (y,), (v,))[1]

        spectrum = jax.lax.stop_gradient(impulse_spectrum(jacobian, structure))
        leaves = jax.tree.leaves(y)
        dtype = jnp.result_type(*leaves) if leaves else jnp.float32
        dtype = jnp.finfo(dtype).dtype
        return _FFTNewtonState(
            spectrum=spectrum,
            diffsize=jnp.array(jnp.inf, dtype),
            diffsize_prev=jnp.array(1.0, dtype),
            result=optx.RESULTS.successful,
            step=jnp.array(0),
        )

    def step(self, fn, y, args, options, state: _FFTNewtonState, tags):
        del options, tags
        fx, aux = fn(y, args)
        diff = jax.tree.map(spectral_solve, fx, state.spectrum)
        new_y = jax.tree.map(lambda a, b: a - b, y, diff)
        with jax.numpy_dtype_promotion("standard"):
            scaled = jax.tree.map(lambda d, v: d / (self.atol + self.rtol * jnp.abs(v)), diff, new_y)
            diffsize = self.norm(scaled).astype(state.diffsize.dtype)
        new_state = _FFTNewtonState(
            spectrum=state.spectrum,
            diffsize=diffsize,
            diffsize_prev=state.diffsize,
            result=state.result,
            step=state.step + 1,
        )
        return new_y, new_state, aux

    def terminate(self, fn, y, args, options, state: _FFTNewtonState, tags):
        del fn, y, args, options, tags
        finite = jnp.isfinite(state.diffsize)
        if self.linear:
            done = state.step >= 1
            bad = done & ~finite
            return done, optx.RESULTS.where(bad, optx.RESULTS.nonlinear_divergence, optx.RESULTS.successful)
        # The contraction rate from two updates, as diffrax's VeryChord estimates it; but
        # unlike VeryChord (which rejects a stage not converged after two iterations), it
        # keeps iterating until converged, diverging, or out of steps.
        at_least_two = state.step >= 2
        rate = state.diffsize / state.diffsize_prev
        factor = state.diffsize * rate / (1 - rate)
        small = state.diffsize < 10 ** (2 - jnp.finfo(state.diffsize.dtype).precision)
        diverged = ~jnp.isfinite(rate) | (rate > 2)
        converged = (factor > 0) & (factor < self.kappa)
        done = at_least_two & (small | diverged | converged)
        failed = at_least_two & ~small & diverged
        return done, optx.RESULTS.where(failed, optx.RESULTS.nonlinear_divergence, optx.RESULTS.successful)

    def postprocess(self, fn, y, aux, args, options, state, tags, result):
        return y, aux, {}
