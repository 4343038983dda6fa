"""Normalizations with a learned per-channel scale and shift."""

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from .._errors import ArgumentError

NormKind = Literal["channel", "instance", "group", "batch"]
NORM_KINDS: tuple[str, ...] = ("channel", "instance", "group", "batch")
"""`channel` normalizes each pixel over its channels only (no spatial pooling, the default);
`instance` and `group` pool over the whole image, so every pixel sees a summary of it;
`batch` pools over the batch and the image in training and uses running statistics in evaluation."""


def check_norm(norm: str) -> None:
    """Raises ArgumentError (argument `norm`) unless `norm` is a name in `NORM_KINDS`."""
    if norm not in NORM_KINDS:
        raise ArgumentError("norm", f"unknown normalization {norm!r}; choose one of {', '.join(NORM_KINDS)}")


class Normalization(nnx.Module):
    r"""$\gamma\, (y - \mu) / \sqrt{\sigma^2 + \epsilon} + \beta$ over the axes that `kind` names.

    $\mu$ and $\sigma^2$ are the mean and variance over those axes, $\epsilon$ is `eps`, and $\gamma$
    and $\beta$ are the learned per-channel `scale` and `shift`.

    Args:
      channels: the size of the last axis of the input.
      kind: `"channel"` (per pixel over channels; no spatial pooling), `"instance"` (per
        image and channel over H, W: pools over the image), `"group"` (per image over
        H, W and a group of channels: pools over the image) or `"batch"` (per channel over
        the batch, H and W: pools over the image and the batch while training; evaluation,
        `model.eval()`, uses the running mean and variance instead).
      groups: the number of channel groups for `kind="group"`; must divide `channels`.
      eps: added to the variance.
      momentum: of the running statistics of `kind="batch"`:
        `running = momentum * running + (1 - momentum) * batch statistic`.
      stages: for `kind="batch"`, how many sets of running statistics to keep: one per stage of
        the integrator step the layer belongs to, since each stage normalizes its own input
        (shape (C,) for one, (stages, C) for more). `__call__`'s `stage` picks one.

    Attributes:
      use_running_average: for `kind="batch"`, normalize with the running statistics and
        leave them unchanged; set by `model.eval()` and cleared by `model.train()`.
      axis_name: for `kind="batch"` in training, a named axis of `jax.shard_map` over which
        the batch statistics are averaged, so that devices holding equal parts of a batch
        normalize by the statistics of the whole batch, as one device would; None (the
        default) uses the local batch. The data-parallel training step sets it
        (`model.set_attributes(axis_name=...)`).
    """

    def __init__(
        self,
        channels: int,
        *,
        kind: NormKind = "channel",
        groups: int = 4,
        eps: float = 1e-5,
        momentum: float = 0.9,
        stages: int = 1,
    ):
        check_norm(kind)
        if kind == "group" and channels % groups:
            raise ValueError(f"group normalization needs groups={groups} to divide channels={channels}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.kind = kind
        self.groups = groups
        self.eps = eps
        self.momentum = momentum
        self.stages = stages
        self.use_running_average = False
        self.axis_name: str | None = None
        self.scale = nnx.Param(jnp.ones((channels,), jnp.float32))
        self.shift = nnx.Param(jnp.zeros((channels,), jnp.float32))
        if kind == "batch":
            shape = (channels,) if stages == 1 else (stages, channels)
            self.running_mean = nnx.BatchStat(jnp.zeros(shape, jnp.float32))
            self.running_var = nnx.BatchStat(jnp.ones(shape, jnp.float32))

    def __call__(self, y: jax.Array, *, stage: int = 0) -> jax.Array:
        """Normalizes `y` of shape (..., H, W, C); returns the same shape and dtype.

        `stage` (0 to `stages - 1`) picks the running statistics of `kind="batch"`.
        """
        compute = y.astype(jnp.promote_types(y.dtype, jnp.float32))
        if self.kind == "channel":
            normalized = _standardize(compute, axes=(-1,), eps=self.eps)
        elif self.kind == "instance":
            normalized = _standardize(compute, axes=(-3, -2), eps=self.eps)
        elif self.kind == "group":
            grouped = compute.reshape(compute.shape[:-1] + (self.groups, -1))
            normalized = _standardize(grouped, axes=(-4, -3, -1), eps=self.eps).reshape(compute.shape)
        else:
            normalized = self._batch_normalize(compute, stage)
        return (normalized * self.scale[...] + self.shift[...]).astype(y.dtype)

    def _batch_normalize(self, y: jax.Array, stage: int) -> jax.Array:
        row = slice(None) if self.stages == 1 else stage
        if self.use_running_average:
            mean, variance = self.running_mean[row], self.running_var[row]
        else:
            axes = tuple(range(y.ndim - 1))
            mean = self._across_devices(jnp.mean(y, axis=axes))
            variance = self._across_devices(jnp.mean(jnp.square(y - mean), axis=axes))
            keep = self.momentum
            for running, batch in ((self.running_mean, mean), (self.running_var, variance)):
                running[row] = keep * running[row] + (1 - keep) * jax.lax.stop_gradient(batch)
        return (y - mean) * jax.lax.rsqrt(variance + self.eps)

    def _across_devices(self, statistic: jax.Array) -> jax.Array:
        return statistic if self.axis_name is None else jax.lax.pmean(statistic, self.axis_name)


def _standardize(y: jax.Array, axes: tuple[int, ...], eps: float) -> jax.Array:
    mean = jnp.mean(y, axis=axes, keepdims=True)
    variance = jnp.mean(jnp.square(y - mean), axis=axes, keepdims=True)
    return (y - mean) * jax.lax.rsqrt(variance + eps)
