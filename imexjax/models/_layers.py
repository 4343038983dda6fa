"""The layers of a time-stepping network: the explicit vector field and the opening layer."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from ._conv import conv2d, conv2d_transpose
from ._normalization import Normalization, NormKind

Activation = Callable[[jax.Array], jax.Array]


class ExplicitLayer(nnx.Module):
    r"""The explicit vector field of one step, $f(Y) = -K^\top \sigma(N(K Y))$ by default.

    The symmetric form is forward stable (Haber & Ruthotto 2017): $-K^\top \sigma(N(K\, \cdot))$ has
    a negative semi-definite Jacobian when sigma is monotone and N is a fixed affine map.
    With `symmetric=False` the layer is the general $K_2\, \sigma(N(K_1 Y))$.

    Args:
      width: the number of channels C.
      kernel_size: k, odd.
      norm: the normalization N (see `Normalization`).
      symmetric: use $K_2 = -K_1^\top$.
      activation: sigma.
      stages: the stages of the integrator step this field belongs to; a batch normalization
        keeps running statistics for each (see `Normalization`).
      rngs: random number streams for the initial kernels.
    """

    def __init__(
        self,
        width: int,
        *,
        kernel_size: int = 3,
        norm: NormKind = "channel",
        symmetric: bool = True,
        activation: Activation = nnx.relu,
        stages: int = 1,
        rngs: nnx.Rngs,
    ):
        init = nnx.initializers.lecun_normal()
        shape = (kernel_size, kernel_size, width, width)
        self.kernel = nnx.Param(init(rngs.params(), shape, jnp.float32))
        self.kernel_out = None if symmetric else nnx.Param(init(rngs.params(), shape, jnp.float32))
        self.norm = Normalization(width, kind=norm, stages=stages)
        self.activation = activation

    def __call__(self, y: jax.Array, *, stage: int = 0) -> jax.Array:
        """Returns `f(Y)` for `y` of shape (B, H, W, C), same shape and dtype, at stage `stage` of a step."""
        z = self.activation(self.norm(conv2d(y, self.kernel[...]), stage=stage))
        if self.kernel_out is None:
            return -conv2d_transpose(z, self.kernel[...])
        return conv2d(z, self.kernel_out[...])


class OpeningLayer(nnx.Module):
    """`relu(N(K Y))`, the layer that changes the width (no residual connection).

    Args:
      in_channels: C_in.
      out_channels: C_out.
      kernel_size: k, odd.
      norm: the normalization N.
      activation: applied after N.
      rngs: random number streams for the initial kernel.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: int = 3,
        norm: NormKind = "channel",
        activation: Activation = nnx.relu,
        rngs: nnx.Rngs,
    ):
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        self.kernel = nnx.Param(nnx.initializers.he_normal()(rngs.params(), shape, jnp.float32))
        self.norm = Normalization(out_channels, kind=norm)
        self.activation = activation

    def __call__(self, y: jax.Array) -> jax.Array:
        """Maps (B, H, W, C_in) to (B, H, W, C_out)."""
        return self.activation(self.norm(conv2d(y, self.kernel[...])))
