"""The U-Net (Ronneberger et al. 2015): convolution pairs at halving resolutions, skips, a 1x1 head."""

import jax
import jax.numpy as jnp
from flax import nnx

from ._layers import OpeningLayer
from ._normalization import NormKind
from ._options import check_unet_options
from ._resample import UpConv, check_images, crop, max_pool, pad_to_multiple


class ConvPair(nnx.Module):
    """Two `relu(N(K y))` layers of 3x3 convolutions, the unit of every U-Net level.

    Args:
      in_channels: C_in.
      width: C_out of both convolutions.
      norm: the normalization N (see `Normalization`).
      rngs: random number streams.
    """

    def __init__(self, in_channels: int, width: int, *, norm: NormKind, rngs: nnx.Rngs):
        self.first = OpeningLayer(in_channels, width, norm=norm, rngs=rngs)
        self.second = OpeningLayer(width, width, norm=norm, rngs=rngs)

    def __call__(self, y: jax.Array) -> jax.Array:
        """Maps (B, H, W, C_in) to (B, H, W, width)."""
        return self.second(self.first(y))


class UNet(nnx.Module):
    """The standard U-Net shape at `levels` resolutions, widths `base_width * 2**l`.

    Level l (0 = full resolution) holds a `ConvPair` of width `w_l = base_width * 2**l`;
    the encoder max-pools 2x2 between levels; the decoder goes back up level by level with a
    2x2 transposed convolution (w_{l+1} -> w_l), concatenates the encoder's output of that
    level (the skip) and applies a `ConvPair` (2 w_l -> w_l); a 1x1 convolution head maps
    w_0 to `num_outputs`. Convolutions carry no bias (a normalization follows each); the
    transposed convolutions and the head do.

    Images whose sides are not multiples of `2**(levels - 1)` are zero-padded evenly to the
    next multiple and the outputs cropped back, so any size of at least `2**(levels - 1)`
    works. With `norm="channel"` (the default) no statistic is pooled over the image.

    Args:
      levels: resolutions, >= 1 (1 is two convolutions and the head, no pooling).
      base_width: w_0, >= 1. With `levels`, it may not make a network whose float32
        parameters exceed the machine's memory (a ValueError, before anything is allocated).
      in_channels: channels of the input image.
      num_outputs: classes (logits) or regression outputs per pixel.
      norm: the normalization after every convolution (see `Normalization`).
      dtype: the dtype of the states and convolutions, a name in `DTYPES`; parameters,
        normalization statistics and the head's outputs stay float32.
      rngs: random number streams.
    """

    def __init__(
        self,
        levels: int,
        base_width: int,
        *,
        in_channels: int,
        num_outputs: int,
        norm: NormKind = "channel",
        dtype: str = "float32",
        rngs: nnx.Rngs,
    ):
        check_unet_options(levels, base_width, in_channels=in_channels, num_outputs=num_outputs, norm=norm, dtype=dtype)
        widths = [int(base_width) * 2**level for level in range(levels)]
        self.levels = levels
        self.base_width = base_width
        self.in_channels = in_channels
        self.dtype = dtype
        self.down = nnx.List(
            [
                ConvPair(channels, width, norm=norm, rngs=rngs)
                for channels, width in zip([in_channels, *widths[:-1]], widths, strict=True)
            ]
        )
        self.up = nnx.List([UpConv(widths[level + 1], widths[level], rngs=rngs) for level in range(levels - 1)])
        self.decode = nnx.List(
            [ConvPair(2 * widths[level], widths[level], norm=norm, rngs=rngs) for level in range(levels - 1)]
        )
        self.head = nnx.Conv(base_width, num_outputs, kernel_size=(1, 1), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps images (B, H, W, in_channels) to per-pixel outputs (B, H, W, num_outputs).

        Raises:
          ValueError: `x` is not 4-D, has other than `in_channels` channels, or H or W is
            below `2**(levels - 1)`.
        """
        return self.head(self.features(x))

    def features(self, x: jax.Array) -> jax.Array:
        """The state before the head, shape (B, H, W, base_width)."""
        check_images(x.shape, self.in_channels, self.levels)
        y, window = pad_to_multiple(x.astype(self.dtype), 2 ** (self.levels - 1))
        skips = []
        for level, pair in enumerate(self.down):
            y = pair(max_pool(y) if level else y)
            skips.append(y)
        for level in reversed(range(self.levels - 1)):
            y = self.decode[level](jnp.concatenate([skips[level], self.up[level](y)], axis=-1))
        return crop(y, window)
