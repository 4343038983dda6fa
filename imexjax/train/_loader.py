"""Batches of a random-access dataset on grain: shuffled per (seed, epoch), read ahead in threads.

grain is imported when a `Loader` is built, not with this module, so the rest of the engine
(models, steps, configs) runs where grain is not installed.
"""

import hashlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from .._errors import ConfigError, UserError

Batch = tuple[np.ndarray, np.ndarray]
"""`(inputs, targets)`, numpy arrays with a leading batch axis."""


class Source(Protocol):
    """A dataset that can be indexed: `source[i]` is the example `(input, target)`."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Any, Any]: ...


class ArraySource:
    """The examples `(inputs[i], targets[i])` of two arrays held in memory.

    Args:
      inputs: (N, ...).
      targets: (N, ...).
      name: what error messages call the examples.

    Raises:
      ValueError: the arrays differ in length.
    """

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, *, name: str = "arrays"):
        if len(inputs) != len(targets):
            raise ValueError(f"inputs ({len(inputs)}) and targets ({len(targets)}) differ in length")
        self.inputs, self.targets, self.name = inputs, targets, name

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.inputs[index], self.targets[index]


class Loader:
    """One epoch of batches at a time from a `Source`, through a grain `MapDataset` pipeline.

    Epoch `e` visits the examples in an order that depends only on `(seed, e)` (grain's
    shuffle, seeded per epoch), so a resumed run sees the batches an uninterrupted one does.
    With `shard_count > 1` (one shard per process; training only, since the remainder must be
    dropped), each shard yields its rows of every global batch, `batch_size // shard_count` of
    them, and the shards together cover the same global batches as one unsharded loader.
    `transform` runs on whole batches (e.g. normalization).

    Args:
      source: the examples.
      batch_size: examples per global batch.
      shuffle: a new order per `(seed, epoch)` (training) or the source's order (evaluation).
      seed: seeds the order.
      drop_remainder: drop the last partial batch (training) or keep it (evaluation).
      transform: `(inputs, targets) -> (inputs, targets)` applied to each batch.
      shard_index: this shard's index, `0 <= shard_index < shard_count`.
      shard_count: the number of shards; must divide `batch_size`.
      num_threads: threads reading batches ahead (0: read in the calling thread, best for data
        already in memory).
      prefetch: batches read ahead.

    Raises:
      ConfigError: the batch size is not positive, exceeds the examples while dropping the
        remainder, or does not divide over the shards.
      UserError: grain is not installed.
    """

    def __init__(
        self,
        source: Source,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_remainder: bool,
        transform: Callable[[np.ndarray, np.ndarray], Batch] | None = None,
        shard_index: int = 0,
        shard_count: int = 1,
        num_threads: int = 2,
        prefetch: int = 2,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch size must be a positive integer, got {batch_size!r}", field="batch_size")
        if drop_remainder and batch_size > len(source):
            raise ConfigError(
                f"batch size {batch_size} exceeds the {len(source)} examples of {_name(source)}; "
                f"set batch_size to {len(source)} or less",
                field="batch_size",
            )
        if not 0 <= shard_index < shard_count or batch_size % shard_count:
            raise ConfigError(
                f"batch size {batch_size} does not divide over {shard_count} shards (this is {shard_index})",
                field="batch_size",
            )
        if shard_count > 1 and not drop_remainder:
            raise ConfigError("a sharded loader must drop the remainder (a partial last batch cannot be split evenly)")
        _grain()  # here, before a run starts, rather than at its first batch
        self.source = source
        self.batch_size = batch_size
        self.shuffle, self.seed, self.drop_remainder = shuffle, seed, drop_remainder
        self.transform = transform
        self.shard_index, self.shard_count = shard_index, shard_count
        self.num_threads, self.prefetch = num_threads, prefetch

    def shard(self, index: int, count: int) -> "Loader":
        """This loader's shard `index` of `count` (e.g. one per process): its rows of every global batch."""
        return Loader(
            self.source,
            self.batch_size,
            shuffle=self.shuffle,
            seed=self.seed,
            drop_remainder=self.drop_remainder,
            transform=self.transform,
            shard_index=index,
            shard_count=count,
            num_threads=self.num_threads,
            prefetch=self.prefetch,
        )

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(len(self.source), self.batch_size)
        return full if self.drop_remainder or not rest else full + 1

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """Yields the `(inputs, targets)` batches of epoch `epoch`, the same every time it is asked."""
        grain = _grain()
        dataset = grain.MapDataset.source(self.source)
        if self.shuffle:
            dataset = dataset.shuffle(seed=epoch_seed(self.seed, epoch))
        if self.drop_remainder:
            dataset = dataset[: len(self) * self.batch_size]
        if self.shard_count > 1:
            dataset = dataset[self.shard_index :: self.shard_count]
        dataset = dataset.batch(self.batch_size // self.shard_count, drop_remainder=self.drop_remainder)
        if self.transform is not None:
            dataset = dataset.map(lambda batch: self.transform(*batch))
        options = grain.ReadOptions(num_threads=self.num_threads, prefetch_buffer_size=self.prefetch)
        yield from dataset.to_iter_dataset(options)


def fingerprint(source: Source, *, samples: int | None = 16) -> str:
    """A short hash of a source's length and contents, to tell whether two runs read the same data.

    Args:
      source: the examples.
      samples: how many examples, evenly spaced, to read (None: every one).

    Returns:
      16 hex digits of the SHA-256 of the length and the sampled examples' bytes.
    """
    count = len(source) if samples is None else min(samples, len(source))
    digest = hashlib.sha256(str(len(source)).encode())
    for index in np.unique(np.linspace(0, len(source) - 1, count).round().astype(np.int64)) if count else []:
        for part in source[int(index)]:
            array = np.ascontiguousarray(part)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of epoch `epoch` of a run seeded `seed`, in [0, 2**32)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _grain() -> ModuleType:
    """The `grain` package, imported on first use.

    Raises:
      UserError: grain is not installed.
    """
    try:
        import grain
    except ModuleNotFoundError as error:
        if error.name != "grain":  # grain is there but one of its own dependencies is not
            raise
        raise UserError("the data loader needs the grain package, which is not installed: pip install grain") from error
    return grain


def _name(source: Source) -> str:
    return getattr(source, "name", "the dataset")
