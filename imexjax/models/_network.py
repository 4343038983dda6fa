"""`TimeSteppingNet`: blocks of integrator steps at full resolution, then a 1x1 head."""

from collections.abc import Sequence

import jax
from flax import nnx

from ._block import Block
from ._options import check_time_stepping_options
from ._resample import check_images


class TimeSteppingNet(nnx.Module):
    """A dense-prediction network whose layers are the steps of an ODE integrator.

    `geometry` lists blocks as `(layers, width)`: each block is an opening layer to `width`
    channels followed by `layers - 1` integrator steps, all at full resolution (no
    coarsening); a 1x1 convolution head maps to `num_outputs`. The paper's network is
    `geometry=((4, 64), (4, 128), (4, 256))`; with `integrator="euler"` it is the ResNet
    twin of the IMEX network of the same geometry.

    Args:
      geometry: `(layers, width)` per block, layers >= 1.
      in_channels: channels of the input image.
      num_outputs: classes (logits) or regression outputs per pixel.
      integrator: a name in `imexjax.solvers.INTEGRATORS` (`euler`, `midpoint`, `rk4`, `imex`,
        `imex2`, `etd`, `etd2`).
      boundary: of every block's ConvDiffusion steps (see `Block`): one name in
        `imexjax.BOUNDARIES` for all blocks, or a sequence with one name per block.
      dtype: the dtype of the states and convolutions, a name in `DTYPES`. With
        `bfloat16` the images are cast on the way in; parameters, normalization
        statistics and the FFT solves stay float32, and so do the head's outputs.
      rngs: random number streams.
      **block_options (Any): passed to every `Block` (h, norm, symmetric, zero_mean, imex_form...).

    Raises:
      ValueError: an option `imexjax.models.check_network_options` refuses (an `ArgumentError`
        naming it).
    """

    def __init__(
        self,
        geometry: Sequence[tuple[int, int]],
        *,
        in_channels: int,
        num_outputs: int,
        integrator: str = "imex",
        boundary: str | Sequence[str] = "periodic",
        dtype: str = "float32",
        rngs: nnx.Rngs,
        **block_options,
    ):
        geometry, boundaries = check_time_stepping_options(
            geometry,
            per_block_boundaries=True,
            in_channels=in_channels,
            num_outputs=num_outputs,
            integrator=integrator,
            boundary=boundary,
            dtype=dtype,
            **block_options,
        )
        self.geometry = geometry
        self.in_channels = in_channels
        self.integrator = integrator
        self.dtype = dtype
        blocks = []
        channels = in_channels
        for (layers, width), block_boundary in zip(geometry, boundaries, strict=True):
            blocks.append(
                Block(
                    channels,
                    width,
                    layers - 1,
                    integrator=integrator,
                    boundary=block_boundary,
                    rngs=rngs,
                    **block_options,
                )
            )
            channels = width
        self.blocks = nnx.List(blocks)
        self.head = nnx.Conv(channels, num_outputs, kernel_size=(1, 1), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps images (B, H, W, in_channels) to per-pixel outputs (B, H, W, num_outputs).

        Raises:
          ValueError: `x` is not 4-D or has other than `in_channels` channels.
        """
        return self.head(self.features(x))

    def features(self, x: jax.Array) -> jax.Array:
        """The state before the head, shape (B, H, W, width of the last block)."""
        check_images(x.shape, self.in_channels)
        y = x.astype(self.dtype)
        for block in self.blocks:
            y = block(y)
        return y
