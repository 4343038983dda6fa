"""Batches of a dataset for the training loop, in a fixed order per (seed, epoch)."""

from collections.abc import Iterator
from typing import Protocol

import numpy as np

from ._config import ConfigError


def check_batch_size_fits(batch_size: int, num_examples: int, *, drop_remainder: bool, examples: str) -> None:
    """Raises ConfigError unless `batch_size` is positive and, when dropping the remainder, at most
    `num_examples` (`examples` names them in the message, e.g. "training examples")."""
    if batch_size < 1:
        raise ConfigError(f"batch size must be positive, got {batch_size}")
    if drop_remainder and batch_size > num_examples:
        raise ConfigError(
            f"batch size {batch_size} exceeds the {num_examples} {examples}; use --batch-size {num_examples} or less"
        )


def batches_per_epoch(num_examples: int, batch_size: int, *, drop_remainder: bool) -> int:
    """The number of batches of `batch_size` in `num_examples`, the partial last one counted unless dropped."""
    full, rest = divmod(num_examples, batch_size)
    return full if drop_remainder or not rest else full + 1


class Batches(Protocol):
    """What `train_and_evaluate` reads data through.

    Attributes:
      batch_size: examples per batch.
    """

    batch_size: int

    def __len__(self) -> int:
        """Batches per epoch."""
        ...

    def epoch(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields `(inputs, targets)` numpy batches of epoch `epoch`, the same every time it is asked."""
        ...


class InMemoryBatches:
    """Splits arrays into batches; shuffled deterministically per epoch when asked.

    Args:
      inputs: (N, ...) model inputs.
      targets: (N, ...) targets.
      batch_size: examples per batch.
      shuffle: draw a new order each epoch from `(seed, epoch)`.
      seed: seeds the order.
      drop_remainder: drop the last partial batch (training) or keep it (evaluation).
    """

    def __init__(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_remainder: bool,
    ):
        if len(inputs) != len(targets):
            raise ValueError(f"inputs ({len(inputs)}) and targets ({len(targets)}) differ in length")
        check_batch_size_fits(batch_size, len(inputs), drop_remainder=drop_remainder, examples="training examples")
        self.inputs = inputs
        self.targets = targets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_remainder = drop_remainder

    @property
    def num_examples(self) -> int:
        """N."""
        return len(self.inputs)

    def __len__(self) -> int:
        """Batches per epoch."""
        return batches_per_epoch(len(self.inputs), self.batch_size, drop_remainder=self.drop_remainder)

    def epoch(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields `(inputs, targets)` batches of epoch `epoch` (the same every time it is asked)."""
        n = len(self.inputs)
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        for i in range(len(self)):
            index = np.sort(order[i * self.batch_size : (i + 1) * self.batch_size])
            yield self.inputs[index], self.targets[index]
