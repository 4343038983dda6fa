"""`imexjax.train.Loader` on grain: coverage, seeded order per epoch, remainder, shards, threads, errors."""

import threading

import numpy as np
import pytest
from test_nyu_data import tag, tagged_frames, write_labeled_mat

from imexjax.data import nyu
from imexjax.train import ArraySource, ConfigError, Loader


class CountingSource:
    """Tagged frames that count how often they are read (from any thread)."""

    def __init__(self, n: int):
        self.frames = tagged_frames(n, 2, 3)
        self.name = "counting"
        self.reads = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int):
        with self._lock:
            self.reads += 1
        return self.frames[index]


def epoch_tags(loader: Loader, epoch: int) -> list[list[int]]:
    return [[tag(d) for d in depth] for _, depth in loader.epoch(epoch)]


def test_an_epoch_covers_each_example_once_in_an_order_seeded_per_epoch():
    source = CountingSource(10)
    loader = Loader(source, 3, shuffle=True, seed=7, drop_remainder=False, num_threads=3)
    first = epoch_tags(loader, 0)
    assert [len(batch) for batch in first] == [3, 3, 3, 1] and len(loader) == 4
    assert sorted(sum(first, [])) == list(range(10)) and sum(first, []) != list(range(10))
    assert epoch_tags(loader, 0) == first
    assert epoch_tags(loader, 1) != first
    assert epoch_tags(Loader(source, 3, shuffle=True, seed=8, drop_remainder=False), 0) != first
    in_order = Loader(source, 3, shuffle=False, drop_remainder=False)
    assert sum(epoch_tags(in_order, 0), []) == list(range(10))
    dropped = Loader(source, 3, shuffle=True, seed=7, drop_remainder=True)
    assert epoch_tags(dropped, 0) == first[:3] and len(dropped) == 3
    rgb, depth = next(iter(in_order.epoch(0)))
    assert rgb.shape == (3, 2, 3, 3) and rgb.dtype == np.uint8
    assert depth.shape == (3, 2, 3) and depth.dtype == np.float32


def test_shards_split_every_global_batch_between_them():
    source = CountingSource(11)
    whole = Loader(source, 4, shuffle=True, seed=3, drop_remainder=True)
    shards = [whole.shard(index, 2) for index in range(2)]
    assert [len(shard) for shard in shards] == [len(whole)] * 2
    halves = [epoch_tags(shard, 5) for shard in shards]
    assert all(len(batch) == 2 for half in halves for batch in half)
    together = [sorted(a + b) for a, b in zip(*halves, strict=True)]
    assert together == [sorted(batch) for batch in epoch_tags(whole, 5)]
    with pytest.raises(ConfigError, match="batch size 4 does not divide over 3 shards"):
        whole.shard(0, 3)
    with pytest.raises(ConfigError, match="a sharded loader must drop the remainder"):
        Loader(source, 4, shuffle=True, drop_remainder=False).shard(0, 2)


def test_transform_runs_on_whole_batches():
    inputs = np.arange(12, dtype=np.float32).reshape(6, 2)
    loader = Loader(
        ArraySource(inputs, np.arange(6)), 4, shuffle=False, drop_remainder=False, transform=lambda x, y: (2 * x, -y)
    )
    batches = list(loader.epoch(0))
    assert np.array_equal(np.concatenate([x for x, _ in batches]), 2 * inputs)
    assert np.array_equal(np.concatenate([y for _, y in batches]), -np.arange(6))


def test_reading_stays_a_few_batches_ahead():
    source = CountingSource(40)
    batches = Loader(source, 2, shuffle=False, drop_remainder=True, num_threads=2, prefetch=2).epoch(0)
    next(batches)
    threading.Event().wait(0.3)
    assert source.reads <= 2 * (1 + 2 + 2)  # the batch held, the prefetch buffer, one per reading thread
    batches.close()


def test_threads_read_a_shared_labeled_mat_in_order(tmp_path):
    path = write_labeled_mat(tmp_path / "nyu_depth_v2_labeled.mat", tagged_frames(12))
    source = nyu.LabeledMatSource(path, "train")
    expected = [tag(source[i][1]) for i in range(len(source))]
    loader = Loader(source, 2, shuffle=False, drop_remainder=False, num_threads=4)
    assert [tag(d) for _, depth in loader.epoch(0) for d in depth] == expected


@pytest.mark.parametrize(
    "batch_size, message",
    [(0, "batch size must be a positive integer"), (11, "batch size 11 exceeds the 10 examples of counting")],
)
def test_bad_batch_sizes_are_one_line_config_errors(batch_size, message):
    with pytest.raises(ConfigError, match=message):
        Loader(CountingSource(10), batch_size, shuffle=True, drop_remainder=True)
    with pytest.raises(ValueError, match="differ in length"):
        ArraySource(np.zeros(3), np.zeros(4))
