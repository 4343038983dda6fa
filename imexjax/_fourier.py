r"""Periodic boundaries: the 2-D real FFT of each channel, and the symbol of a kernel embedded in the grid.

A depthwise correlation with periodic boundaries is diagonal in the DFT:
$C = \mathcal{F}^{-1} \bar D \mathcal{F}$, $\bar D$ the multiplication by the conjugate of $\hat c$,
the DFT of the kernel embedded in the H x W grid with its centre at index (0, 0), so every
function of $C^\top C$ multiplies each mode by a function of $|\hat c|^2$.
"""

import jax
import jax.numpy as jnp


def kernel_spectrum(kernel: jax.Array, height: int, width: int) -> jax.Array:
    r"""The rfft2 of each channel's kernel embedded in an H x W periodic grid, centre at (0, 0).

    Args:
      kernel: shape (k, k, C).
      height: H.
      width: W.

    Returns:
      A complex array of shape (C, H, W // 2 + 1): $\hat c$, with
      $C = \mathcal{F}^{-1} \bar D \mathcal{F}$, $\bar D$ the multiplication by the conjugate of $\hat c$.
    """
    k = kernel.shape[0]
    grid = jnp.zeros((kernel.shape[2], height, width), kernel.dtype)
    grid = grid.at[:, :k, :k].set(jnp.moveaxis(kernel, -1, 0))
    grid = jnp.roll(grid, (-(k // 2), -(k // 2)), axis=(-2, -1))
    return jnp.fft.rfft2(grid)


def kernel_power(kernel: jax.Array, height: int, width: int) -> jax.Array:
    r"""The symbol of $C^\top C$: $|\hat c|^2$, real, of shape (C, H, W // 2 + 1) (see `kernel_spectrum`).

    $C^\top C = \mathcal{F}^{-1} D \mathcal{F}$, $D$ the multiplication by $|\hat c|^2$, so `mv`
    multiplies by $-|\hat c|^2$, `resolve` by $1 / (1 + h |\hat c|^2)$ and `exp` by $\exp(-h |\hat c|^2)$.
    """
    spectrum = kernel_spectrum(kernel, height, width)
    return spectrum.real**2 + spectrum.imag**2


def fft_channels(y: jax.Array) -> jax.Array:
    """The rfft2 over (H, W) of each channel of `y`, the transform every spectral solve uses.

    16-bit floats are transformed in float32 (`jnp.fft.rfft2` rejects them), wider dtypes
    in their own precision.

    Args:
      y: a floating array of shape (..., H, W, C).

    Returns:
      A complex array of shape (..., C, H, W // 2 + 1): channels first, as `kernel_spectrum`.
    """
    compute_dtype = jnp.promote_types(y.dtype, jnp.float32)
    return jnp.fft.rfft2(jnp.moveaxis(y.astype(compute_dtype), -1, -3))


def ifft_channels(y_hat: jax.Array, like: jax.Array) -> jax.Array:
    """The inverse of `fft_channels`: back to (..., H, W, C) in the grid and dtype of `like`.

    Args:
      y_hat: a complex array of shape (..., C, H, W // 2 + 1).
      like: an array of shape (..., H, W, C) whose grid size (odd sizes need it) and dtype
        the result takes.

    Returns:
      A real array of shape (..., H, W, C) and the dtype of `like`.
    """
    height, width = like.shape[-3], like.shape[-2]
    return jnp.moveaxis(jnp.fft.irfft2(y_hat, s=(height, width)), -3, -1).astype(like.dtype)
