"""Monocular depth estimation as a `Task`: an L1 loss on log depth, and the Eigen et al. metrics."""

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

DEPTH_METRICS: tuple[str, ...] = ("loss", "rmse", "abs_rel", "log10", "delta1", "delta2", "delta3")
"""What `DepthTask.summarize` returns, in this order."""


class DepthTask:
    """Per-pixel depth regression; a pixel is valid where its ground-truth depth is > 0.

    The network's single output channel `z` is a log depth relative to `log_depth_mean`:
    the predicted depth is `exp(z + log_depth_mean)` metres, so a network whose outputs are 0
    predicts the geometric mean depth of the training set, and every prediction is positive.

    The loss is the mean absolute error of the log depth over the valid pixels,
    `mean |log d_pred - log d_true|` (L1 in log space: it penalizes relative errors, and a
    global scale error as much as any other). The metrics are Eigen et al. (NIPS 2014),
    pooled over every valid pixel of the split (not averaged per image), with the predicted
    depth clipped to `[min_depth, max_depth]` (the customary evaluation cap):

    - `rmse`: sqrt(mean (d_pred - d_true)^2), metres;
    - `abs_rel`: mean |d_pred - d_true| / d_true;
    - `log10`: mean |log10 d_pred - log10 d_true|;
    - `delta{i}`: the fraction of pixels with max(d_pred / d_true, d_true / d_pred) < 1.25^i.

    Args:
      log_depth_mean: the offset added to the network's output (the training set's mean
        log depth over valid pixels, natural log of metres).
      min_depth: the lower clip of predicted depths in the metrics, metres.
      max_depth: the upper clip of predicted depths in the metrics, metres.
    """

    num_outputs = 1

    def __init__(self, log_depth_mean: float = 0.0, *, min_depth: float = 1e-3, max_depth: float = 10.0):
        if not 0 < min_depth < max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {min_depth}, {max_depth}")
        if not math.isfinite(log_depth_mean):
            raise ValueError(f"log_depth_mean must be finite, got {log_depth_mean}")
        self.log_depth_mean = float(log_depth_mean)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)

    def log_depth(self, outputs: jax.Array) -> jax.Array:
        """The predicted log depth (B, H, W), unclipped, from outputs (B, H, W, 1)."""
        return outputs[..., 0].astype(jnp.float32) + self.log_depth_mean

    def depth(self, outputs: jax.Array) -> jax.Array:
        """The predicted depth (B, H, W) in metres, clipped to `[min_depth, max_depth]`."""
        return jnp.exp(jnp.clip(self.log_depth(outputs), math.log(self.min_depth), math.log(self.max_depth)))

    def predict(self, outputs: jax.Array) -> jax.Array:
        """The predicted depth (B, H, W) in metres (as `depth`)."""
        return self.depth(outputs)

    def outputs_for(self, depth: jax.Array) -> jax.Array:
        """The outputs (B, H, W, 1) whose prediction is `depth` (B, H, W): the inverse of `depth`."""
        return (jnp.log(depth) - self.log_depth_mean)[..., None]

    def loss(self, outputs: jax.Array, targets: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Mean |log d_pred - log d_true| over valid pixels of outputs (B, H, W, 1) and depths (B, H, W).

        Returns:
          `(loss, sums)`; `sums` holds `loss` (summed over valid pixels), `squared_error`
          (of the clipped depth, metres^2) and `count` (valid pixels).
        """
        valid = targets > 0
        safe = jnp.where(valid, targets, 1.0)
        errors = jnp.where(valid, jnp.abs(self.log_depth(outputs) - jnp.log(safe)), 0.0)
        count = jnp.sum(valid).astype(jnp.float32)
        total = jnp.sum(errors)
        squared = jnp.sum(jnp.where(valid, (jax.lax.stop_gradient(self.depth(outputs)) - safe) ** 2, 0.0))
        return total / jnp.maximum(count, 1.0), {"loss": total, "squared_error": squared, "count": count}

    def eval_sums(self, outputs: jax.Array, targets: jax.Array) -> dict[str, jax.Array]:
        """Sums over the valid pixels of a batch that `summarize` turns into the metrics."""
        valid = targets > 0
        truth = jnp.where(valid, targets, 1.0).astype(jnp.float32)
        predicted = self.depth(outputs)

        def total(values):
            return jnp.sum(jnp.where(valid, values, 0.0))

        ratio = jnp.maximum(predicted / truth, truth / predicted)
        return {
            "count": jnp.sum(valid).astype(jnp.float32),
            "log_error": total(jnp.abs(self.log_depth(outputs) - jnp.log(truth))),
            "squared_error": total((predicted - truth) ** 2),
            "abs_rel": total(jnp.abs(predicted - truth) / truth),
            "log10": total(jnp.abs(jnp.log10(predicted) - jnp.log10(truth))),
            **{f"delta{i}": total((ratio < 1.25**i).astype(jnp.float32)) for i in (1, 2, 3)},
        }

    def summarize(self, sums: dict[str, np.ndarray]) -> dict[str, Any]:
        """`loss`, `rmse`, `abs_rel`, `log10`, `delta1`, `delta2`, `delta3` of a split (NaN if no valid pixel)."""
        count = float(sums["count"])
        if count == 0:
            return {name: math.nan for name in DEPTH_METRICS}
        return {
            "loss": float(sums["log_error"]) / count,
            "rmse": math.sqrt(float(sums["squared_error"]) / count),
            "abs_rel": float(sums["abs_rel"]) / count,
            "log10": float(sums["log10"]) / count,
            **{f"delta{i}": float(sums[f"delta{i}"]) / count for i in (1, 2, 3)},
        }

    def progress(self, sums: dict[str, float]) -> dict[str, float]:
        """The running loss and RMSE (metres) of the epoch."""
        count = max(sums["count"], 1.0)
        return {"loss": sums["loss"] / count, "rmse": math.sqrt(sums["squared_error"] / count)}
