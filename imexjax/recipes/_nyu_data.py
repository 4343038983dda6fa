"""The data of a depth run: its sources, what identifies them, input statistics, RGB standardization."""

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validate import FieldsError, check_choice
from ..data.nyu import FORMATS, DepthSource, NyuDataError, SyntheticScenes, detect_format, load_nyu
from ..data.nyu._errors import missing_data_message
from ..train import Loader, fingerprint
from ._nyu_config import DepthConfig

STATISTICS_FRAMES = 64
"""Training frames (evenly spaced over the split) that the input statistics are taken from."""

SELECT_SEED_OFFSET = 2**32
"""The selection split renders the validation rooms of seed `config.seed + SELECT_SEED_OFFSET`,
a seed no config can hold (seeds are below 2**32): rooms of no run's training or validation split."""


def normalize_rgb(rgb: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (..., 3) images to float32, standardized per channel by the training mean and std."""
    return (rgb.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


class _Subset:
    """Frames `indices` of `source`, as a source."""

    def __init__(self, source: DepthSource, indices: np.ndarray):
        self.source, self.indices, self.name = source, indices, f"{source.name}[subset]"

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.source[int(self.indices[index])]


def input_statistics(source: DepthSource, max_frames: int = STATISTICS_FRAMES) -> dict[str, Any]:
    """Per-channel RGB mean and std (0..255 units) and the mean log depth over valid pixels.

    Taken from at most `max_frames` frames spread evenly over `source` (always the same ones).

    Returns:
      `{"rgb_mean": [3 floats], "rgb_std": [3 floats], "log_depth_mean": float, "statistics_frames": n}`.

    Raises:
      NyuDataError: if no sampled frame has a valid depth pixel.
    """
    indices = np.unique(np.linspace(0, len(source) - 1, min(len(source), max_frames)).round().astype(np.int64))
    rgb_sum, rgb_sq, pixels, log_sum, valid = np.zeros(3), np.zeros(3), 0, 0.0, 0
    for rgb, depth in Loader(_Subset(source, indices), min(8, len(indices)), shuffle=False, drop_remainder=False).epoch(
        0
    ):
        values = rgb.reshape(-1, 3).astype(np.float64)
        rgb_sum += values.sum(axis=0)
        rgb_sq += (values * values).sum(axis=0)
        pixels += len(values)
        positive = depth[depth > 0].astype(np.float64)
        log_sum += np.log(positive).sum()
        valid += positive.size
    if valid == 0:
        raise NyuDataError(f"{source.name}: the {len(indices)} frames sampled hold no valid depth (all depth <= 0)")
    mean = rgb_sum / pixels
    std = np.sqrt(np.maximum(rgb_sq / pixels - mean * mean, 0.0))
    std = np.where(std > 1e-6, std, 1.0)
    return {
        "rgb_mean": mean.tolist(),
        "rgb_std": std.tolist(),
        "log_depth_mean": log_sum / valid,
        "statistics_frames": len(indices),
    }


def open_depth_data(
    config: DepthConfig, data: str | os.PathLike | None, *, format: str = "auto"
) -> tuple[DepthSource, DepthSource, dict[str, Any]]:
    """The training and validation sources of a run, and what identifies them.

    Synthetic rooms are rendered at `config.resolution` with `config.num_train`/`num_val`
    frames seeded by `config.seed`; NYU frames are resized to `config.resolution` on read.
    With `config.eval_split == "select"` the second source is the selection split (synthetic
    rooms of another seed, `SELECT_SEED_OFFSET`) instead of the validation split.

    Args:
      config: the run's configuration.
      data: the NYU path (see `imexjax.data.nyu.load_nyu`); ignored for `format="synthetic"`.
      format: `auto`, `labeled_mat`, `fastdepth`, `tfds` or `synthetic`.

    Returns:
      `(train, val, identity)`, `identity` holding `task` (`depth`), `format` (resolved),
      `data` (absolute path or None), `resolution`, `num_train`, `num_val` and `fingerprint`
      (a hash of 16 frames of each split, `imexjax.train.fingerprint`): what a resumed
      run, or a run compared with this one, must share.

    Raises:
      NyuDataError: the data is missing, not recognised or corrupt.
      ConfigError: unknown format, or a selection split asked of NYU data.
    """
    check_choice("format", format, ("auto", *FORMATS))
    if format == "synthetic":
        train: DepthSource = SyntheticScenes(
            "train", num_frames=config.num_train, resolution=config.resolution, seed=config.seed
        )
        val_seed = config.seed + (SELECT_SEED_OFFSET if config.eval_split == "select" else 0)
        val: DepthSource = SyntheticScenes(
            "val", num_frames=config.num_val, resolution=config.resolution, seed=val_seed
        )
        path = None
    elif config.eval_split == "select":
        raise FieldsError(
            "eval_split select needs format synthetic: NYU's splits hold no selection split; "
            "choose hyperparameters on synthetic rooms",
            fields=("eval_split", "format"),
        )
    else:
        if data is None:
            raise NyuDataError("no --data given: " + missing_data_message("").split(": ", 1)[1])
        format = detect_format(data) if format == "auto" else format
        train = load_nyu(data, format=format, split="train", resolution=config.resolution)
        val = load_nyu(data, format=format, split="val", resolution=config.resolution)
        path = str(pathlib.Path(data).absolute())
    if len(train) == 0 or len(val) == 0:
        raise NyuDataError(f"{data}: the {'train' if len(train) == 0 else 'val'} split holds no frames")
    identity = {
        "task": "depth",
        "format": format,
        "data": path,
        "resolution": list(config.resolution),
        "num_train": len(train),
        "num_val": len(val),
        "fingerprint": fingerprint(train) + fingerprint(val),
    }
    return train, val, identity


def first_frames(source: DepthSource, count: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames `start, start + 1, ...` (at most `count`) of `source`: uint8 RGB (n, H, W, 3) and depth (n, H, W)."""
    frames = [source[i] for i in range(start, min(start + count, len(source)))]
    return np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])
