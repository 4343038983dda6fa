"""`FFTLinearSolver`: a lineax solver for periodic, translation-invariant, depthwise operators."""

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, PyTree

from ..operators import fft_channels, ifft_channels


def _impulse(structure: jax.ShapeDtypeStruct) -> Array:
    """A unit impulse at pixel (0, 0) of every channel, of shape `structure` (..., H, W, C)."""
    if len(structure.shape) < 3:
        raise ValueError(f"an FFT solve needs states of shape (..., H, W, channels), got a leaf of {structure.shape}")
    if not jnp.issubdtype(structure.dtype, jnp.floating):
        raise TypeError(f"an FFT solve needs real floating states, got dtype {structure.dtype}")
    return jnp.zeros(structure.shape, structure.dtype).at[..., 0, 0, :].set(1)


def impulse_spectrum(mv: Callable[[PyTree[Array]], PyTree[Array]], structure: PyTree[jax.ShapeDtypeStruct]) -> PyTree:
    """The spectrum of a periodic, translation-invariant, depthwise linear map, from one product.

    The map's response to a unit impulse at pixel (0, 0) of every channel (of every leaf and
    every leading index) is its kernel `h`; then `mv(v) = h * v` (circular convolution per
    channel), so `rfft2(mv(v)) = rfft2(h) rfft2(v)`. The spectrum is exact (to rounding) for
    such maps, and meaningless for others: maps that couple leaves, channels or leading
    indices, or that are not translation-invariant.

    Args:
      mv: the linear map, on pytrees of arrays of shape (..., H, W, C).
      structure: a pytree of `jax.ShapeDtypeStruct`, the map's input (and output) structure.

    Returns:
      Per leaf, `fft_channels(h)`: complex, of shape (..., C, H, W // 2 + 1).
    """
    return jax.tree.map(fft_channels, mv(jax.tree.map(_impulse, structure)))


def spectral_solve(rhs: Array, spectrum: Array) -> Array:
    """$J^{-1} r$, $r$ = `rhs`, for the translation-invariant `J` whose `impulse_spectrum` is `spectrum`.

    Args:
      rhs: shape (..., H, W, C).
      spectrum: shape (..., C, H, W // 2 + 1).

    Returns:
      An array with the shape and dtype of `rhs`.
    """
    return ifft_channels(fft_channels(rhs) / spectrum, rhs)


def _has_zero_eigenvalue(spectrum: PyTree[Array]) -> Array:
    """Whether an eigenvalue is zero to rounding, relative to the largest (see `FFTLinearSolver`).

    Args:
      spectrum: per leaf, complex eigenvalues of shape (..., C, H, W // 2 + 1).

    Returns:
      A boolean scalar, True also when an eigenvalue is not finite.
    """
    magnitudes = [jnp.abs(leaf) for leaf in jax.tree.leaves(spectrum)]
    largest = jnp.max(jnp.array([jnp.max(leaf) for leaf in magnitudes]))
    grid = max(2 * math.prod(leaf.shape[-2:]) for leaf in magnitudes)  # about H W
    eps = max(float(jnp.finfo(leaf.dtype).eps) for leaf in magnitudes)
    rcond = 2 * eps * math.log2(2 * grid)
    return jnp.any(jnp.array([~jnp.all(leaf > rcond * largest) for leaf in magnitudes]))


class FFTLinearSolver(lx.AbstractLinearSolver):
    r"""Solves `A x = b` by one division in Fourier space, for periodic convolution operators.

    For any real, square lineax operator `A` on states of shape (..., H, W, channels) (a
    pytree of them) that is a periodic, translation-invariant, depthwise map: no coupling
    between channels, leaves or leading indices. `imexjax.diffrax.ConvDiffusionOperator`
    ($\alpha I + \beta C^\top C$) and `ConvOperator` (`C`) are; so is the Jacobian of a stage
    of diffrax's implicit solvers whose implicit term is `imexjax.diffrax.ConvDiffusionTerm`
    ($I + \gamma\, \Delta t\, C^\top C$), whatever lineax operator wraps it (`JacobianLinearOperator`,
    `FunctionLinearOperator`). `init` measures the spectrum with one `operator.mv` (see
    `impulse_spectrum`); `compute` is `irfft2(rfft2(b) / spectrum)`, O(N log N) with
    N = H W C, and nothing of size N^2 is ever formed. The transpose has the conjugate
    spectrum. Operators without this structure get wrong answers, not errors.

    A spectrum with a zero reports `lineax.RESULTS.singular` (an error, unless
    `linear_solve(..., throw=False)`), under `jit` too: an eigenvalue counts as zero when its
    magnitude is at most `2 eps log2(2 H W)` times the largest one (`eps` of the spectrum's
    real dtype, H W the largest grid of any leaf), over 40 times the rounding measured on
    the zero eigenvalue of $C^\top C$ for zero-mean kernels (at most 0.33 eps of the largest).
    In float32 that is 1.7e-6 on an 8 x 8 grid and 4.1e-6 on 256 x 256: an operator such as
    $I + h C^\top C$ with $h \max |\hat c|^2$ above 2.5e5 to 6e5 is reported singular, as its
    smallest eigenvalue is then lost to the rounding of the largest.

    Differentiable like any lineax solver: `lineax.linear_solve(A, b, FFTLinearSolver())`
    is linear in `b` (its transpose is another FFT solve) and differentiable in the
    operator's arrays (lineax differentiates through `A.mv`).
    """

    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]) -> PyTree[Array]:
        del options
        if operator.in_structure() != operator.out_structure():
            raise ValueError(
                "FFTLinearSolver needs a square operator whose input and output structures agree, got "
                f"{operator.in_structure()} and {operator.out_structure()}"
            )
        return impulse_spectrum(operator.mv, operator.in_structure())

    def compute(
        self, state: PyTree[Array], vector: PyTree[Array], options: dict[str, Any]
    ) -> tuple[PyTree[Array], lx.RESULTS, dict[str, Any]]:
        del options
        solution = jax.tree.map(spectral_solve, vector, state)
        singular = _has_zero_eigenvalue(state)
        return solution, lx.RESULTS.where(singular, lx.RESULTS.singular, lx.RESULTS.successful), {}

    def transpose(self, state: PyTree[Array], options: dict[str, Any]) -> tuple[PyTree[Array], dict[str, Any]]:
        del options
        return jax.tree.map(jnp.conj, state), {}

    def conj(self, state: PyTree[Array], options: dict[str, Any]) -> tuple[PyTree[Array], dict[str, Any]]:
        del options
        return state, {}

    def assume_full_rank(self) -> bool:
        return True
