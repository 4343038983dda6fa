"""A multi-level time-stepping network: a U-Net whose convolution pairs are blocks of integrator steps."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ._block import Block
from ._layers import OpeningLayer
from ._options import check_time_stepping_options
from ._resample import UpConv, average_pool, check_images, crop, pad_to_multiple


class MultiLevelNet(nnx.Module):
    """Time-stepping blocks at halving resolutions, joined like a U-Net.

    `geometry` lists one `(layers, width)` block per level; level l runs at 1/2**l of the
    image's size. The encoder applies level 0's `Block` (an opening layer to w_0 and
    `layers - 1` integrator steps) to the image, then for each further level averages 2x2
    pixels (the restriction of multigrid) and applies that level's block, whose implicit
    solves (IMEX-type integrators) act on the grid of that level: one step at level l
    diffuses 2**l times further in image pixels than the same step at level 0. The decoder
    goes back up level by level: a 2x2 transposed convolution (w_{l+1} -> w_l), the
    concatenation with level l's encoder output (the skip) and a 3x3 merge layer
    `relu(N(K y))` (2 w_l -> w_l); a 1x1 convolution head maps w_0 to `num_outputs`.
    With `integrator="euler"` the blocks are residual blocks: the same network without
    implicit steps.

    Images whose sides are not multiples of `2**(levels - 1)` are zero-padded evenly to the
    next multiple and the outputs cropped back.

    Args:
      geometry: `(layers, width)` per level, layers >= 1, at least one level.
      in_channels: channels of the input image.
      num_outputs: classes (logits) or regression outputs per pixel.
      integrator: a name in `imexjax.solvers.INTEGRATORS`, the scheme of every level's block.
      dtype: the dtype of the states and convolutions, a name in `DTYPES` (as in
        `TimeSteppingNet`).
      rngs: random number streams.
      **block_options (Any): passed to every `Block` (h, norm, symmetric, zero_mean, imex_form,
        implicit_init_scale...); `norm` and `kernel_size` also set the merge layers'.
    """

    def __init__(
        self,
        geometry: Sequence[tuple[int, int]],
        *,
        in_channels: int,
        num_outputs: int,
        integrator: str = "imex",
        dtype: str = "float32",
        rngs: nnx.Rngs,
        **block_options,
    ):
        geometry, _ = check_time_stepping_options(
            geometry,
            per_block_boundaries=False,
            in_channels=in_channels,
            num_outputs=num_outputs,
            integrator=integrator,
            dtype=dtype,
            **block_options,
        )
        self.geometry = geometry
        self.in_channels = in_channels
        self.integrator = integrator
        self.dtype = dtype
        widths = [width for _, width in geometry]
        self.blocks = nnx.List(
            [
                Block(channels, width, layers - 1, integrator=integrator, rngs=rngs, **block_options)
                for channels, (layers, width) in zip([in_channels, *widths[:-1]], geometry, strict=True)
            ]
        )
        merge_options = {k: block_options[k] for k in ("norm", "kernel_size") if k in block_options}
        self.up = nnx.List([UpConv(widths[level + 1], widths[level], rngs=rngs) for level in range(len(widths) - 1)])
        self.merge = nnx.List(
            [
                OpeningLayer(2 * widths[level], widths[level], rngs=rngs, **merge_options)
                for level in range(len(widths) - 1)
            ]
        )
        self.head = nnx.Conv(widths[0], num_outputs, kernel_size=(1, 1), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps images (B, H, W, in_channels) to per-pixel outputs (B, H, W, num_outputs).

        Raises:
          ValueError: `x` is not 4-D, has other than `in_channels` channels, or H or W is
            below `2**(levels - 1)`.
        """
        return self.head(self.features(x))

    def features(self, x: jax.Array) -> jax.Array:
        """The state before the head, shape (B, H, W, width of level 0)."""
        levels = len(self.geometry)
        check_images(x.shape, self.in_channels, levels)
        y, window = pad_to_multiple(x.astype(self.dtype), 2 ** (levels - 1))
        skips = []
        for level, block in enumerate(self.blocks):
            y = block(average_pool(y) if level else y)
            skips.append(y)
        for level in reversed(range(levels - 1)):
            y = self.merge[level](jnp.concatenate([skips[level], self.up[level](y)], axis=-1))
        return crop(y, window)
