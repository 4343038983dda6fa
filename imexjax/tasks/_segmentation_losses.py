"""Losses for dense prediction."""

import jax
import jax.numpy as jnp
import numpy as np
import optax


def class_weights_from_labels(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """The IMEXnet authors' class weights, `1 - (pixel frequency of the class)`.

    Args:
      labels: integer class ids of the training set, any shape.
      num_classes: K.

    Returns:
      float32 (K,).
    """
    counts = np.bincount(np.asarray(labels).reshape(-1), minlength=num_classes).astype(np.float64)
    return (1.0 - counts / counts.sum()).astype(np.float32)


def weighted_cross_entropy(logits: jax.Array, labels: jax.Array, class_weights: jax.Array | None = None) -> jax.Array:
    """Pixel-wise softmax cross entropy, each pixel weighted by its true class's weight.

    The mean over pixels of `weight * loss` (not PyTorch's division by the sum of the weights,
    which varies from batch to batch): the loss of a batch is then exactly the mean of the
    losses of its equal shards, as data-parallel training needs.

    Args:
      logits: (..., K) unnormalized log-probabilities.
      labels: (...) integer class ids.
      class_weights: (K,) or None for uniform weights.

    Returns:
      A scalar, float32.
    """
    losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)
    if class_weights is None:
        return jnp.mean(losses)
    return jnp.mean(jnp.asarray(class_weights, jnp.float32)[labels] * losses)
