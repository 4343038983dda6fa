"""Segmentation metrics from a confusion matrix accumulated over a whole split."""

import jax
import jax.numpy as jnp
import numpy as np


def confusion_matrix(labels: jax.Array, predictions: jax.Array, num_classes: int) -> jax.Array:
    """Counts pixels by (true class, predicted class).

    Args:
      labels: integer class ids, any shape.
      predictions: integer class ids, the shape of `labels`.
      num_classes: K.

    Returns:
      int32 array (K, K); entry [i, j] counts pixels of class i predicted as class j.
    """
    index = labels.reshape(-1).astype(jnp.int32) * num_classes + predictions.reshape(-1).astype(jnp.int32)
    return jnp.bincount(index, length=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """Intersection over union of each class: TP / (TP + FP + FN).

    Args:
      confusion: (K, K) counts from `confusion_matrix`, summed over a split.

    Returns:
      float64 (K,); NaN for a class that appears neither in the labels nor the predictions.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, true_positive / union, np.nan)


def pixel_accuracy(confusion: np.ndarray) -> float:
    """The fraction of pixels whose predicted class is right."""
    confusion = np.asarray(confusion, dtype=np.float64)
    return float(np.trace(confusion) / confusion.sum())


def segmentation_metrics(confusion: np.ndarray, *, background: int | None = 0) -> dict[str, float | list[float]]:
    """The Q-tips metrics of a split from its accumulated confusion matrix.

    Args:
      confusion: (K, K) counts summed over the whole split.
      background: the class left out of `iou` (the mean over object classes); None keeps all.

    Returns:
      `iou` (mean IoU over the object classes, ignoring classes absent from both labels and
      predictions), `iou_per_class` (object classes, in order), `miou_all` (mean over all
      classes, background included) and `accuracy` (percent of pixels right).
    """
    per_class = iou_per_class(confusion)
    objects = np.delete(per_class, background) if background is not None else per_class
    return {
        "iou": float(np.nanmean(objects)) if np.isfinite(objects).any() else float("nan"),
        "iou_per_class": [float(v) for v in objects],
        "miou_all": float(np.nanmean(per_class)),
        "accuracy": 100.0 * pixel_accuracy(confusion),
    }
