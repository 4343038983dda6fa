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

    Normalized like PyTorch's weighted `CrossEntropyLoss`: sum of weighted losses divided by
    the sum of the weights, so uniform weights give the plain mean.

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
    weights = jnp.asarray(class_weights, jnp.float32)[labels]
    return jnp.sum(weights * losses) / jnp.sum(weights)
