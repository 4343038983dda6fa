"""The official labeled subset, `nyu_depth_v2_labeled.mat` (MATLAB v7.3, that is HDF5)."""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import NyuDataError, missing_data_message
from ._source import Frame, Split, check_index, check_split, make_frame
from ._splits import SPLITS_FILE, fallback_split, read_splits

if TYPE_CHECKING:
    import h5py

LABELED_FILE = "nyu_depth_v2_labeled.mat"
"""The file name the NYU site distributes the labeled subset under."""


def find_labeled_mat(path: str | os.PathLike) -> Path | None:
    """The labeled .mat file that `path` names, or None.

    Args:
      path: the file itself (any `.mat` or HDF5 file), or a folder holding
        `nyu_depth_v2_labeled.mat`.
    """
    import h5py

    path = Path(path)
    if path.is_file():
        return path if path.suffix.lower() == ".mat" or h5py.is_hdf5(path) else None
    if path.is_dir() and (path / LABELED_FILE).is_file():
        return path / LABELED_FILE
    return None


class LabeledMatSource:
    """Frames of the labeled subset, read one at a time from the HDF5 file.

    On disk (as h5py sees the MATLAB arrays) `images` is uint8 (N, 3, W, H) and `depths` is
    float (N, W, H), W = 640 and H = 480 in the real file: MATLAB's column-major arrays appear
    transposed. Frames come out as rgb uint8 (H, W, 3) and depth float32 (H, W), metres.

    The file is opened once and the handle kept; the source pickles without it and reopens
    the file on first use after unpickling (for worker processes). h5py serialises reads
    from several threads on one handle, so threads may share a source.

    Args:
      path: `nyu_depth_v2_labeled.mat`, or a folder holding it.
      split: `"train"` or `"val"` (the official test split).
      splits: a `splits.mat` holding `trainNdxs`/`testNdxs` (1-based). Defaults to
        `splits.mat` beside the labeled file if there is one; without it, `fallback_split`.

    Raises:
      NyuDataError: if there is no labeled file at `path`, or it is not HDF5, lacks `images`
        or `depths`, or their shapes do not match; or `splits.mat` is unreadable.
    """

    def __init__(self, path: str | os.PathLike, split: Split = "train", *, splits: str | os.PathLike | None = None):
        self.split = check_split(split)
        found = find_labeled_mat(path)
        if found is None:
            raise NyuDataError(missing_data_message(path))
        self.path = str(found)
        self._file: h5py.File | None = None
        num_frames = len(self._open()["images"])
        if splits is None and (found.parent / SPLITS_FILE).is_file():
            splits = found.parent / SPLITS_FILE
        self.splits_path = None if splits is None else str(splits)
        if self.splits_path is None:
            self.indices = fallback_split(num_frames, self.split)
        else:
            self.indices = read_splits(self.splits_path, num_frames)[self.split]
        self.name = f"labeled_mat/{self.split}"

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Frame:
        """Frame `index` of the split: rgb uint8 (H, W, 3), depth float32 (H, W), metres."""
        frame = int(self.indices[check_index(index, len(self))])
        f = self._open()
        try:
            rgb = f["images"][frame]
            depth = f["depths"][frame]
        except OSError as error:
            raise NyuDataError(
                f"{self.path}: cannot read frame {frame} ({error}); the file may be truncated, re-download it"
            ) from error
        return make_frame(rgb.transpose(2, 1, 0), depth.T)

    def close(self) -> None:
        """Closes the file handle (the next read reopens it)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"] = None
        return state

    def _open(self) -> "h5py.File":
        """The open file handle, opened and checked on first use."""
        if self._file is not None:
            return self._file
        import h5py

        if not h5py.is_hdf5(self.path):
            raise NyuDataError(
                f"{self.path} is not an HDF5 (MATLAB v7.3) file: expected nyu_depth_v2_labeled.mat as "
                "distributed (2.8 GB); re-download it if it is truncated or was re-saved in another format"
            )
        try:
            f = h5py.File(self.path, "r")
        except OSError as error:
            raise NyuDataError(f"{self.path} cannot be opened as HDF5 ({error}); re-download it") from error
        try:
            _check_layout(f, self.path)
        except NyuDataError:
            f.close()
            raise
        self._file = f
        return f


def _check_layout(f: "h5py.File", path: str) -> None:
    """Raises NyuDataError unless `f` holds `images` uint8 (N, 3, W, H) and `depths` (N, W, H)."""
    import h5py

    for key in ("images", "depths"):
        if key not in f or not isinstance(f[key], h5py.Dataset):
            raise NyuDataError(
                f"{path} has no dataset {key!r}: expected the NYU labeled subset with 'images' and 'depths'"
            )
    images, depths = f["images"], f["depths"]
    if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8:
        raise NyuDataError(
            f"{path}: 'images' is {images.dtype} {images.shape}; "
            "expected uint8 (N, 3, 640, 480) as MATLAB v7.3 stores it"
        )
    if depths.ndim != 3 or depths.shape != (images.shape[0], *images.shape[2:]):
        raise NyuDataError(
            f"{path}: 'depths' has shape {depths.shape}; "
            f"expected {(images.shape[0], *images.shape[2:])} to match 'images' {images.shape}"
        )
    if images.shape[0] == 0:
        raise NyuDataError(f"{path} holds no frames")
