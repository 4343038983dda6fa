r"""The 'same' 2-D convolution of the layers, with a derivative that stays fast inside loops on CPU.

XLA's CPU compiler runs a convolution fast only in its canonical layout (`NHWC` state,
`HWIO` kernel, `NHWC` output). Unrolled, it rewrites the convolutions of JAX's gradient
rules into that layout; inside a `lax.scan` body it does not, and the two it leaves alone,
the input gradient (an `HWOI` kernel) and the kernel gradient (a convolution over the batch
with an image-sized window), run 10-25x more slowly (`benchmarks/conv_in_loop.py`). So on CPU
the derivative of `conv2d` is written so that JAX's transpose of it is already canonical:

- the input term `conv(dY, K)` is an `HWOI` convolution of `K` with its channel axes swapped,
  so the input gradient is an `HWIO` convolution of the flipped kernel;
- the kernel term `conv(Y, dK)` is a convolution whose batch axis is the channel axis of
  `Y`, whose features are its batch, and whose output comes out `(H, W, B, C_out)`, so the
  kernel gradient is the canonical convolution of $Y^\top$ (channels as batch) with $G^\top$
  (an `H x W` window over the batch) that XLA builds when unrolled.

On other platforms the derivative is the plain one. Forward values are those of
`jax.lax.conv_general_dilated`; `jax.jvp`, `jax.grad`, `jax.vmap` and higher derivatives work
(a `jax.custom_jvp`, transposed by JAX).
"""

import jax
import jax.numpy as jnp


def _correlate(y: jax.Array, kernel: jax.Array, kernel_spec: str = "HWIO") -> jax.Array:
    """`jax.lax.conv_general_dilated` with 'SAME' padding and stride 1 on an NHWC state."""
    return jax.lax.conv_general_dilated(
        y, kernel, window_strides=(1, 1), padding="SAME", dimension_numbers=("NHWC", kernel_spec, "NHWC")
    )


def _correlate_for_kernel_gradient(y: jax.Array, kernel: jax.Array) -> jax.Array:
    """`_correlate(y, kernel)` laid out so that its transpose in `kernel` is a canonical convolution.

    Args:
      y: shape (B, H, W, C_in).
      kernel: shape (k, k, C_in, C_out), k odd.

    Returns:
      Shape (B, H, W, C_out).
    """
    out = jax.lax.conv_general_dilated(
        jnp.transpose(y, (3, 1, 2, 0)),
        jnp.transpose(kernel, (2, 0, 1, 3)),
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=("CHWN", "IHWO", "HWNC"),
    )
    return jnp.transpose(out, (2, 0, 1, 3))


def _tangent_for_cpu(y: jax.Array, kernel: jax.Array, y_dot: jax.Array, kernel_dot: jax.Array) -> jax.Array:
    return _correlate(y_dot, kernel.swapaxes(2, 3), "HWOI") + _correlate_for_kernel_gradient(y, kernel_dot)


def _tangent(y: jax.Array, kernel: jax.Array, y_dot: jax.Array, kernel_dot: jax.Array) -> jax.Array:
    return _correlate(y_dot, kernel) + _correlate(y, kernel_dot)


@jax.custom_jvp
def _conv2d(y: jax.Array, kernel: jax.Array) -> jax.Array:
    return _correlate(y, kernel)


@_conv2d.defjvp
def _conv2d_jvp(primals: tuple[jax.Array, jax.Array], tangents: tuple[jax.Array, jax.Array]):
    y, kernel = primals
    y_dot, kernel_dot = tangents
    tangent = jax.lax.platform_dependent(y, kernel, y_dot, kernel_dot, cpu=_tangent_for_cpu, default=_tangent)
    return _correlate(y, kernel), tangent


def conv2d(y: jax.Array, kernel: jax.Array) -> jax.Array:
    """A zero-padded 'same' cross-correlation.

    Args:
      y: shape (B, H, W, C_in).
      kernel: shape (k, k, C_in, C_out), k odd.

    Returns:
      Shape (B, H, W, C_out), dtype of `y`.
    """
    return _conv2d(y, kernel.astype(y.dtype))


def conv2d_transpose(z: jax.Array, kernel: jax.Array) -> jax.Array:
    """The adjoint of `conv2d(., kernel)`: correlation with the flipped, transposed kernel.

    Args:
      z: shape (B, H, W, C_out).
      kernel: shape (k, k, C_in, C_out), k odd.

    Returns:
      Shape (B, H, W, C_in), dtype of `z`.
    """
    return conv2d(z, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
