"""Perturbation growth through depth: how far a small input change travels, layer by layer."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..models import TimeSteppingNet
from ._functional import split_model
from ._trajectory import layer_states


@dataclasses.dataclass(frozen=True)
class PerturbationGrowth:
    """The amplification `||Y(x + d) - Y(x)|| / ||d||` of small random input perturbations `d`.

    Attributes:
      by_layer: one ratio per layer (the state after each opening layer and each step, as
        `layer_states` lists them), averaged over the images.
      output: the same ratio for the network's output (the logits), averaged over the images.
      scale: the root-mean-square entry of `d`.
    """

    by_layer: list[float]
    output: float
    scale: float


def perturbation_growth(
    model: TimeSteppingNet,
    images: jax.Array,
    *,
    scale: float = 1e-3,
    key: jax.Array | None = None,
) -> PerturbationGrowth:
    """Measures how a small random input perturbation grows through the layers of `model`.

    For each image x a Gaussian `d` with root-mean-square entry `scale` is drawn; the ratio
    `||Y_n(x + d) - Y_n(x)|| / ||d||` (Frobenius norms per image) is computed for every
    layer's state `Y_n` and for the output, then averaged over the images. For small `d` it
    is `||J_n d|| / ||d||`, at most the largest singular value of the Jacobian J_n.

    Args:
      model: a `TimeSteppingNet`.
      images: (N, H, W, in_channels).
      scale: the size of the perturbation, > 0 (small, so that the ratio is that of the
        linearization, but well above the float32 resolution of the states).
      key: seeds the perturbations (default `jax.random.key(0)`).

    Returns:
      A `PerturbationGrowth`.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, H, W, channels), got shape {images.shape}")
    if not isinstance(model, TimeSteppingNet):
        raise TypeError(f"perturbation_growth needs an imexjax.models.TimeSteppingNet, got {type(model).__name__}")
    key = jax.random.key(0) if key is None else key
    structure, state = split_model(model)
    by_layer, output = jax.device_get(_ratios(structure, state, images, key, jnp.asarray(scale, images.dtype)))
    return PerturbationGrowth(
        by_layer=[float(r) for r in np.asarray(by_layer)], output=float(output), scale=float(scale)
    )


@functools.partial(jax.jit, static_argnums=0)
def _ratios(structure, state, x, key, scale):
    net = nnx.merge(structure, state)
    d = scale * jax.random.normal(key, x.shape, x.dtype)
    n = x.shape[0]
    states = layer_states(net, jnp.concatenate([x, x + d]))
    outputs = net.head(states[-1])
    d_norm = jnp.linalg.norm(d.reshape(n, -1), axis=1)

    def ratio(y):
        return jnp.mean(jnp.linalg.norm((y[n:] - y[:n]).reshape(n, -1), axis=1) / d_norm)

    return jnp.stack([ratio(y) for y in states]), ratio(outputs)
