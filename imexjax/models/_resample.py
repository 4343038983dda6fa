"""Moving between resolutions: 2x2 pooling, the 2x2 transposed convolution, padding to a multiple and back."""

import jax
import jax.numpy as jnp
from flax import nnx


def _blocks(y: jax.Array) -> jax.Array:
    """(B, H, W, C) with even H, W -> (B, H/2, 2, W/2, 2, C)."""
    batch, height, width, channels = y.shape
    return y.reshape(batch, height // 2, 2, width // 2, 2, channels)


def max_pool(y: jax.Array) -> jax.Array:
    """The maximum of each 2x2 block: (B, H, W, C) with H, W even -> (B, H/2, W/2, C)."""
    return _blocks(y).max(axis=(2, 4))


def average_pool(y: jax.Array) -> jax.Array:
    """The mean of each 2x2 block: (B, H, W, C) with H, W even -> (B, H/2, W/2, C)."""
    return _blocks(y).mean(axis=(2, 4))


class UpConv(nnx.Module):
    """The 2x2 transposed convolution with stride 2 (and a bias): each pixel becomes a 2x2 block.

    `out[b, 2i + p, 2j + q, o] = sum_c y[b, i, j, c] * kernel[p, q, c, o] + bias[o]`.

    Args:
      in_channels: C_in.
      out_channels: C_out.
      rngs: random number streams for the initial kernel.
    """

    def __init__(self, in_channels: int, out_channels: int, *, rngs: nnx.Rngs):
        shape = (2, 2, in_channels, out_channels)
        self.kernel = nnx.Param(nnx.initializers.he_normal()(rngs.params(), shape, jnp.float32))
        self.bias = nnx.Param(jnp.zeros((out_channels,), jnp.float32))

    def __call__(self, y: jax.Array) -> jax.Array:
        """Maps (B, H, W, C_in) to (B, 2H, 2W, C_out), dtype of `y`."""
        batch, height, width, _ = y.shape
        out = jnp.einsum("bhwc,pqco->bhpwqo", y, self.kernel[...].astype(y.dtype))
        out = out.reshape(batch, 2 * height, 2 * width, -1)
        return out + self.bias[...].astype(y.dtype)


def check_images(shape: tuple[int, ...], in_channels: int, levels: int = 1) -> None:
    """Raises ValueError unless images of `shape` fit a network's input (B, H, W, in_channels) at `levels` levels.

    Level l sees the image at 1/2**l of its size; H and W must be at least 2**(levels - 1).
    """
    if len(shape) != 4:
        raise ValueError(f"expected images of shape (batch, H, W, channels), got shape {shape}")
    if shape[3] != in_channels:
        raise ValueError(
            f"the images have {shape[3]} channels, but the network was built for in_channels={in_channels}; "
            f"pass images of shape (batch, H, W, {in_channels}) or build the network with in_channels={shape[3]}"
        )
    smallest = 2 ** (levels - 1)
    if min(shape[1:3]) < smallest:
        raise ValueError(
            f"images of {shape[1]}x{shape[2]} are too small for {levels} levels: "
            f"height and width must be at least 2**(levels - 1) = {smallest}"
        )


def pad_to_multiple(y: jax.Array, multiple: int) -> tuple[jax.Array, tuple[int, int, int, int]]:
    """Zero-pads (B, H, W, C) images evenly on both sides to the next multiple of `multiple`.

    Returns:
      The padded images and the window `(top, left, H, W)` that `crop` cuts back out.
    """
    _, height, width, _ = y.shape
    extra_h, extra_w = -height % multiple, -width % multiple
    top, left = extra_h // 2, extra_w // 2
    if extra_h or extra_w:
        y = jnp.pad(y, ((0, 0), (top, extra_h - top), (left, extra_w - left), (0, 0)))
    return y, (top, left, height, width)


def crop(y: jax.Array, window: tuple[int, int, int, int]) -> jax.Array:
    """The window `(top, left, H, W)` of `pad_to_multiple` out of (B, H', W', C) -> (B, H, W, C)."""
    top, left, height, width = window
    return y[:, top : top + height, left : left + width]
