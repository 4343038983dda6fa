r"""Zero boundaries: the depthwise correlation with `y = 0` outside the grid, and its resolvent by CG.

    (C y)[i, j, c] = sum_{a, b} kernel[a, b, c] * y[i + a - r, j + b - r, c],   y = 0 off the grid, r = k // 2,

the boundary of `lax.conv_general_dilated` with SAME padding (depthwise: `feature_group_count`
= channels). Its adjoint is the correlation with the kernel flipped in both axes, also zero
padded. For kernels of size <= 3 symmetric under both flips the sine transform diagonalizes it
(`imexjax._sine`); for the others `cg_resolve` solves $(I + h C^\top C) x = b$ by
preconditioned conjugate gradients.
"""

import jax
import jax.numpy as jnp

from ._cg import preconditioned_cg, varying_alike
from ._custom_types import Scalar
from ._fourier import fft_channels, ifft_channels, kernel_power
from ._sine import dst_grid, sine_matrices, sine_power


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
    h: Scalar, b: jax.Array, kernel: jax.Array, *, symmetric: bool, tol: float, max_steps: int
) -> tuple[jax.Array, jax.Array]:
    r"""Solves $(I + h C^\top C)\, x = b$ (zero boundaries) by preconditioned CG.

    Each (leading index, channel) of `b` (..., H, W, C) is its own symmetric positive definite
    system over the grid (`imexjax._cg.preconditioned_cg`). The preconditioner is the solve that
    measured fewer iterations for the kind of kernel (`benchmarks/README.md`): for a kernel
    symmetric under both flips, the sine solve $S (I + h |\hat c|^2)^{-1} S$ (S the DST-I,
    $|\hat c|^2$ the kernel's symbol at the sine frequencies: exact for 3x3, a third to a half of the
    periodic preconditioner's iterations for 5x5); for a general kernel, the periodic resolvent
    of the same kernel, which differs from the operator only within r pixels of the edges (the
    sine solve of a general kernel's symbol took up to 7x more iterations). Gradients with respect
    to `b`, `h` and `kernel` are further CG solves (implicit differentiation), not derivatives
    of the iterations.

    Args:
      h: the step size, >= 0.
      b: the right side, a floating array of shape (..., H, W, C).
      kernel: shape (k, k, C), the dtype of `b`.
      symmetric: whether `kernel` is symmetric under both flips.
      tol: the tolerance, relative to each system's `max |b|`.
      max_steps: the most iterations.

    Returns:
      `x`, shaped as `b`, and the number of iterations taken, an int32 scalar.
    """
    height, width = b.shape[-3], b.shape[-2]
    fixed_h, fixed_kernel = jax.lax.stop_gradient((h, kernel))
    if symmetric:
        constants = (1.0 / (1.0 + fixed_h * sine_power(fixed_kernel, height, width)),)  # (H, W, C)
        constants += sine_matrices(height, width, b.dtype)
    else:
        constants = (1.0 / (1.0 + fixed_h * kernel_power(fixed_kernel, height, width)),)  # (C, H, W // 2 + 1)
    # Every array the solve closes over varies over the same mesh axes (see `varying_alike`).
    h, b, kernel, *constants = varying_alike(h, b, kernel, *constants)
    if symmetric:
        inverse, rows, columns = constants

        def precondition(y: jax.Array) -> jax.Array:
            return dst_grid(dst_grid(y, (rows, columns)) * inverse, (rows, columns))
    else:
        (inverse,) = constants

        def precondition(y: jax.Array) -> jax.Array:
            return ifft_channels(fft_channels(y) * inverse, y)

    return preconditioned_cg(lambda y: y + h * normal_zero(y, kernel), b, precondition, tol=tol, max_steps=max_steps)
