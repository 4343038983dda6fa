r"""Zero boundaries: the depthwise correlation with `y = 0` outside the grid, and its resolvent by CG.

    (C y)[i, j, c] = sum_{a, b} kernel[a, b, c] * y[i + a - r, j + b - r, c],   y = 0 off the grid, r = k // 2,

the boundary of `lax.conv_general_dilated` with SAME padding (depthwise: `feature_group_count`
= channels). Its adjoint is the correlation with the kernel flipped in both axes, also zero
padded. $I + h C^\top C$ is not diagonalised by any fast transform; `cg_resolve` solves it by
conjugate gradients preconditioned by the periodic FFT resolvent of the same kernel, which
differs from it only within r pixels of the edges.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._custom_types import Scalar


def correlate_zero(y: jax.Array, kernel: jax.Array) -> jax.Array:
    """`C y` for `y` (..., H, W, C) and `kernel` (k, k, C): k^2 shifted slices of the zero-padded state, summed."""
    k = kernel.shape[0]
    r = k // 2
    height, width = y.shape[-3], y.shape[-2]
    padding = [(0, 0)] * (y.ndim - 3) + [(r, r), (r, r), (0, 0)]
    padded = jnp.pad(y, padding)
    kernel = kernel.astype(y.dtype)
    out = jnp.zeros_like(y)
    for a in range(k):
        for b in range(k):
            out = out + kernel[a, b] * padded[..., a : a + height, b : b + width, :]
    return out


def correlate_zero_transpose(z: jax.Array, kernel: jax.Array) -> jax.Array:
    r"""$C^\top z$: the correlation with the kernel flipped in both axes, zero padded."""
    return correlate_zero(z, kernel[::-1, ::-1])


def normal_zero(y: jax.Array, kernel: jax.Array) -> jax.Array:
    r"""$C^\top C y$ with zero boundaries."""
    return correlate_zero_transpose(correlate_zero(y, kernel), kernel)


def cg_resolve(
    h: Scalar,
    b: jax.Array,
    kernel: jax.Array,
    precondition: Callable[[Scalar, jax.Array, jax.Array], jax.Array],
    *,
    tol: float,
    max_steps: int,
) -> tuple[jax.Array, jax.Array]:
    r"""Solves $(I + h C^\top C)\, x = b$ (zero boundaries) by preconditioned CG through `lineax.linear_solve`.

    The whole array `b` (..., H, W, C) is one symmetric positive definite system (the operator
    acts on each leading index and channel separately). Gradients with respect to `b`, `h` and
    `kernel` go through lineax's implicit differentiation: further CG solves, not the iterations.

    Args:
      h: the step size, >= 0.
      b: the right side, a floating array of shape (..., H, W, C).
      kernel: shape (k, k, C), the dtype of `b`.
      precondition: `precondition(h, y, kernel)` approximates $(I + h C^\top C)^{-1} y$, symmetric
        positive definite in `y` (the periodic resolvent); it steers convergence only and is
        called with `h` and `kernel` outside differentiation.
      tol: the tolerance, relative to `max |b|` (see `ScaledCG`).
      max_steps: the most iterations.

    Returns:
      `x`, shaped as `b`, and the number of iterations taken, an int32 scalar.
    """
    import lineax as lx

    from ._cg import ScaledCG

    structure = jax.ShapeDtypeStruct(b.shape, b.dtype)
    psd = [lx.symmetric_tag, lx.positive_semidefinite_tag]
    operator = lx.FunctionLinearOperator(lambda y: y + h * normal_zero(y, kernel), structure, tags=psd)
    # PCG's iterates do not change when the preconditioner is scaled, but lineax's breakdown test
    # (p^T A p > 200 eps n gamma, gamma = r^T P r) fails from the first step when P ~ A^{-1} and
    # n > 1 / (200 eps), 4e4 entries in float32: scaled by n, it tests p^T A p > 200 eps r^T P r.
    scale = float(b.size)
    h_fixed, kernel_fixed = jax.lax.stop_gradient((h, kernel))
    preconditioner = lx.FunctionLinearOperator(
        lambda y: scale * precondition(h_fixed, y, kernel_fixed), structure, tags=psd
    )
    solution = lx.linear_solve(
        operator,
        b,
        ScaledCG(tol=tol, max_steps=max_steps),
        options={"preconditioner": preconditioner},
        throw=False,
    )
    return solution.value, solution.stats["num_steps"]
