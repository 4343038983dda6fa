"""Predictions of a trained network, in batches, through its task's `predict`."""

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx


def predict(model: nnx.Module, task: Any, inputs: np.ndarray, *, batch_size: int = 16) -> np.ndarray:
    """`task.predict(model(x))` over `inputs`, `batch_size` at a time, compiled once per batch shape.

    Args:
      model: the network, in evaluation mode (`model.eval()`).
      task: anything with a jit-compatible `predict(outputs)`, such as `SegmentationTask`
        (class probabilities) or `DepthTask` (depth in metres).
      inputs: (N, H, W, C) network inputs, already normalized.
      batch_size: images per call.

    Returns:
      The predictions of the N inputs, concatenated along the first axis.
    """

    @nnx.jit
    def forward(model, x):
        return task.predict(model(x))

    chunks = [
        np.asarray(forward(model, jnp.asarray(inputs[i : i + batch_size]))) for i in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(chunks)
