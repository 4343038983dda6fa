"""Batches of frames, read ahead in worker threads with bounded memory."""

import collections
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ._source import DepthSource, Frame


def epoch_order(num_frames: int, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The frame order of one epoch: a permutation drawn from `(seed, epoch)`, or 0..n-1.

    Returns:
      int64 indices of shape (num_frames,).
    """
    if not shuffle:
        return np.arange(num_frames, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(num_frames).astype(np.int64)


def iterate_batches(
    source: DepthSource,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    drop_remainder: bool,
    prefetch: int = 2,
    num_threads: int = 2,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of batches, read ahead in `num_threads` worker threads.

    The order depends only on `(seed, epoch)` (see `epoch_order`), never on thread timing.
    At most `prefetch` batches are being read ahead of the one the caller holds, so memory
    stays bounded whatever the source's length. Closing the iterator early cancels the
    reads not yet started.

    Args:
      source: frames of one size (see `load_nyu`, or wrap in `ResizedSource`).
      batch_size: frames per batch.
      shuffle: permute the frames (per `seed` and `epoch`) or keep their order.
      seed: the shuffling seed.
      epoch: the epoch number; each epoch draws its own permutation.
      drop_remainder: drop the last batch if it has fewer than `batch_size` frames.
      prefetch: batches read ahead (at least 1).
      num_threads: worker threads.

    Returns:
      An iterator of `(rgb, depth)`: rgb uint8 (B, H, W, 3) and depth float32 (B, H, W);
      B = batch_size except perhaps the last batch when `drop_remainder` is False. Reading
      starts at the first `next`.

    Raises:
      ValueError: if `batch_size`, `prefetch` or `num_threads` is below 1.
    """
    if batch_size < 1 or prefetch < 1 or num_threads < 1:
        raise ValueError(
            f"batch_size, prefetch and num_threads must be >= 1, got {batch_size}, {prefetch}, {num_threads}"
        )
    order = epoch_order(len(source), shuffle=shuffle, seed=seed, epoch=epoch)
    stop = len(order) - len(order) % batch_size if drop_remainder else len(order)
    batches = [order[start : start + batch_size] for start in range(0, stop, batch_size)]
    return _read_ahead(source, batches, prefetch=prefetch, num_threads=num_threads)


def _read_ahead(
    source: DepthSource, batches: list[np.ndarray], *, prefetch: int, num_threads: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Reads `batches` (lists of frame indices) in threads, `prefetch` batches ahead."""
    remaining = iter(batches)
    pool = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="nyu-read")
    pending: collections.deque[list[Future[Frame]]] = collections.deque()

    def submit_next() -> None:
        indices = next(remaining, None)
        if indices is not None:
            pending.append([pool.submit(source.__getitem__, int(i)) for i in indices])

    try:
        for _ in range(prefetch):
            submit_next()
        while pending:
            frames = [future.result() for future in pending.popleft()]
            submit_next()
            yield np.stack([rgb for rgb, _ in frames]), np.stack([depth for _, depth in frames])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
