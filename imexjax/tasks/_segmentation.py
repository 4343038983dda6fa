"""Semantic segmentation as a `Task`: weighted cross entropy, IoU and pixel accuracy."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._segmentation_losses import weighted_cross_entropy
from ._segmentation_metrics import confusion_matrix, segmentation_metrics


class SegmentationTask:
    """Per-pixel classification into `num_classes` classes, class 0 the background.

    Args:
      num_classes: K, background included.
      class_weights: (K,) weights of the cross entropy, or None for uniform.
    """

    def __init__(self, num_classes: int, class_weights: np.ndarray | None = None):
        self.num_outputs = num_classes
        self.class_weights = None if class_weights is None else jnp.asarray(class_weights, jnp.float32)

    def loss(self, outputs: jax.Array, targets: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Weighted cross entropy of logits (B, H, W, K) against labels (B, H, W)."""
        loss = weighted_cross_entropy(outputs, targets, self.class_weights)
        correct = jnp.sum(jnp.argmax(outputs, axis=-1) == targets)
        count = jnp.asarray(targets.size, jnp.float32)
        return loss, {"loss": loss * count, "correct": correct.astype(jnp.float32), "count": count}

    def predict(self, outputs: jax.Array) -> jax.Array:
        """Class probabilities (B, H, W, K) from logits (B, H, W, K)."""
        return jax.nn.softmax(outputs.astype(jnp.float32), axis=-1)

    def eval_sums(self, outputs: jax.Array, targets: jax.Array) -> dict[str, jax.Array]:
        """The summed weighted loss, the pixel count and the confusion matrix (K, K)."""
        weights = jnp.ones(()) if self.class_weights is None else self.class_weights[targets]
        weights = jnp.broadcast_to(weights, targets.shape)
        pixel_losses = optax.softmax_cross_entropy_with_integer_labels(outputs.astype(jnp.float32), targets)
        return {
            "weighted_loss": jnp.sum(weights * pixel_losses),
            "pixels": jnp.asarray(targets.size, jnp.float32),
            "confusion": confusion_matrix(targets, jnp.argmax(outputs, axis=-1), self.num_outputs),
        }

    def summarize(self, sums: dict[str, np.ndarray]) -> dict[str, Any]:
        """`loss`, `iou`, `iou_per_class`, `miou_all` and `accuracy` of a split."""
        metrics = segmentation_metrics(np.asarray(sums["confusion"]))
        return {"loss": float(sums["weighted_loss"] / sums["pixels"]), **metrics}

    def progress(self, sums: dict[str, float]) -> dict[str, float]:
        """The running loss and accuracy (percent) of the epoch."""
        return {"loss": sums["loss"] / sums["count"], "acc": 100.0 * sums["correct"] / sums["count"]}
