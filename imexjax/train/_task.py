"""What a training loop needs to know about a dense-prediction task."""

from typing import Any, Protocol

import jax
import numpy as np


class Task(Protocol):
    """The loss, metrics and predictions of a dense-prediction task, for `train_and_evaluate`.

    Attributes:
      num_outputs: channels of the network's output.
    """

    num_outputs: int

    def loss(self, outputs: jax.Array, targets: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The training loss of a batch, and sums shown while training (jit-compatible).

        Args:
          outputs: the network's outputs (B, H, W, num_outputs).
          targets: the batch's targets.

        Returns:
          `(loss, sums)`: the scalar to minimize and a dict of scalars summed over the batch;
          `sums["count"]` is the number of items the others are sums over.
        """
        ...

    def predict(self, outputs: jax.Array) -> jax.Array:
        """The task's prediction (class probabilities, depth...) from outputs (B, H, W, num_outputs)."""
        ...

    def eval_sums(self, outputs: jax.Array, targets: jax.Array) -> dict[str, jax.Array]:
        """Sums over a validation batch (jit-compatible) that `summarize` turns into metrics."""
        ...

    def summarize(self, sums: dict[str, np.ndarray]) -> dict[str, Any]:
        """Metrics of a whole split from its accumulated `eval_sums`; must include `loss`."""
        ...

    def progress(self, sums: dict[str, float]) -> dict[str, float]:
        """The running figures shown on the progress bar, from accumulated `loss` sums."""
        ...
