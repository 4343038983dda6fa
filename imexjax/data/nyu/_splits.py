"""The official train/test split of the labeled subset (`splits.mat`) and the fallback split."""

import os
from typing import TYPE_CHECKING

import numpy as np

from ._errors import NyuDataError
from ._source import Split

if TYPE_CHECKING:
    import h5py

SPLITS_FILE = "splits.mat"
"""The file name of the official split, looked for beside the labeled .mat file."""

OFFICIAL_TRAIN_FRACTION = 795 / 1449
"""The official split has 795 training and 654 test frames out of 1449."""


def read_splits(path: str | os.PathLike, num_frames: int) -> dict[Split, np.ndarray]:
    """Reads `trainNdxs` and `testNdxs` from a `splits.mat` file.

    Accepts MATLAB v7.3 (HDF5, arrays of shape (1, K) or (K, 1)) and older MATLAB v5 files
    (read with `scipy.io.loadmat`). Indices on disk are 1-based, as MATLAB writes them.

    Args:
      path: the `splits.mat` file.
      num_frames: the number of frames in the labeled file, to check the indices against.

    Returns:
      `{"train": indices, "val": indices}`, each int64 of shape (K,), 0-based; `"val"` is the
      official test split.

    Raises:
      NyuDataError: if the file cannot be read, lacks a key, or holds indices that are not
        whole numbers in 1..num_frames.
    """
    import h5py

    path = os.fspath(path)
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            raw = {key: _read_hdf5_array(f, key, path) for key in ("trainNdxs", "testNdxs")}
    else:
        raw = _read_v5(path)
    return {
        "train": _to_zero_based(raw["trainNdxs"], "trainNdxs", path, num_frames),
        "val": _to_zero_based(raw["testNdxs"], "testNdxs", path, num_frames),
    }


def fallback_split(num_frames: int, split: Split) -> np.ndarray:
    """A fixed split for a labeled file without `splits.mat`: the official 795/654 proportions.

    The frames are permuted with seed 0 (always, whatever the experiment's seed, so that every
    run evaluates on the same frames); the first `round(num_frames * 795 / 1449)` (at least 1
    and at most `num_frames - 1` when there are two or more frames) are the training split.

    Args:
      num_frames: the number of frames in the labeled file.
      split: `"train"` or `"val"`.

    Returns:
      int64 frame indices of shape (K,), sorted, 0-based.
    """
    order = np.random.default_rng(0).permutation(num_frames)
    num_train = min(max(round(num_frames * OFFICIAL_TRAIN_FRACTION), 1), max(num_frames - 1, 1))
    chosen = order[:num_train] if split == "train" else order[num_train:]
    return np.sort(chosen).astype(np.int64)


def _read_hdf5_array(f: "h5py.File", key: str, path: str) -> np.ndarray:
    """The dataset `key` of `f` as an array, or NyuDataError when it is missing."""
    import h5py

    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise NyuDataError(f"{path} has no dataset {key!r}: expected the NYU splits.mat with trainNdxs and testNdxs")
    return np.asarray(f[key][()])


def _read_v5(path: str) -> dict[str, np.ndarray]:
    try:
        import scipy.io
    except ImportError as error:
        raise NyuDataError(f"{path} is an old MATLAB (v5) file, which needs scipy: pip install scipy") from error
    try:
        contents = scipy.io.loadmat(path)
    except (ValueError, TypeError, OSError) as error:
        raise NyuDataError(f"{path} is neither HDF5 (MATLAB v7.3) nor a readable MATLAB v5 file: {error}") from error
    for key in ("trainNdxs", "testNdxs"):
        if key not in contents:
            raise NyuDataError(
                f"{path} has no variable {key!r}: expected the NYU splits.mat with trainNdxs and testNdxs"
            )
    return {key: np.asarray(contents[key]) for key in ("trainNdxs", "testNdxs")}


def _to_zero_based(raw: np.ndarray, key: str, path: str, num_frames: int) -> np.ndarray:
    if raw.ndim > 2 or (raw.ndim == 2 and 1 not in raw.shape):
        raise NyuDataError(f"{path}: {key} has shape {raw.shape}; expected a vector, (1, K) or (K, 1)")
    values = raw.ravel().astype(np.float64)
    if values.size == 0 or not np.all(values == np.round(values)):
        raise NyuDataError(f"{path}: {key} must hold whole 1-based frame numbers, got {raw.dtype} {raw.shape}")
    indices = values.astype(np.int64) - 1
    if indices.min() < 0 or indices.max() >= num_frames:
        raise NyuDataError(
            f"{path}: {key} holds frame numbers {indices.min() + 1}..{indices.max() + 1}, "
            f"outside 1..{num_frames} (the labeled file has {num_frames} frames)"
        )
    return indices
