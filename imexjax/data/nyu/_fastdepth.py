"""The FastDepth HDF5 tree (`nyudepthv2/`), the files tfds's `nyu_depth_v2` is built from."""

import os
from pathlib import Path

import numpy as np

from ._errors import NyuDataError, missing_data_message
from ._source import Frame, Split, check_index, check_split, make_frame

EXTRACTED_FOLDER = "nyudepthv2"
"""The folder that FastDepth's `nyudepthv2.tar.gz` extracts to."""


def find_fastdepth_root(path: str | os.PathLike) -> Path | None:
    """The FastDepth root that `path` names, or None.

    Args:
      path: a folder holding `train/` or `val/` with `.h5` files somewhere below, or a folder
        holding such a `nyudepthv2/`.
    """
    path = Path(path)
    for root in (path, path / EXTRACTED_FOLDER):
        for folder in ("train", "val"):
            if (root / folder).is_dir() and next((root / folder).rglob("*.h5"), None) is not None:
                return root
    return None


class FastDepthSource:
    """Frames of the FastDepth tree, one `.h5` file each, read with h5py on demand.

    Layout: `ROOT/train/<scene>/<n>.h5` and `ROOT/val/official/<n>.h5` (any depth of folders
    below `train/` and `val/` is accepted). Each file holds `rgb` uint8 (3, H, W) and `depth`
    float (H, W) in metres (480 x 640 in the real data). Files are taken in sorted path order.
    The source holds only file names, so it pickles and threads freely.

    Args:
      path: the FastDepth root (or the folder holding `nyudepthv2/`).
      split: `"train"` or `"val"`.

    Raises:
      NyuDataError: if `path` holds no FastDepth tree or the split has no `.h5` files; on
        read, if a file is not HDF5 or lacks `rgb`/`depth` of matching shapes.
    """

    def __init__(self, path: str | os.PathLike, split: Split = "train"):
        self.split = check_split(split)
        root = find_fastdepth_root(path)
        if root is None:
            raise NyuDataError(missing_data_message(path))
        self.root = str(root)
        folder = root / self.split
        self.files = [str(p) for p in sorted(folder.rglob("*.h5"))]
        if not self.files:
            raise NyuDataError(
                f"{root} has no {self.split}/ folder with .h5 files: expected the FastDepth "
                "layout ROOT/train/<scene>/*.h5 and ROOT/val/official/*.h5"
            )
        self.name = f"fastdepth/{self.split}"

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Frame:
        """Frame `index` of the split: rgb uint8 (H, W, 3), depth float32 (H, W), metres."""
        return read_fastdepth_file(self.files[check_index(index, len(self))])


def read_fastdepth_file(path: str) -> Frame:
    """Reads one FastDepth `.h5` file.

    Args:
      path: a file holding `rgb` uint8 (3, H, W) and `depth` float (H, W).

    Returns:
      rgb uint8 (H, W, 3) and depth float32 (H, W), metres, 0 = invalid.

    Raises:
      NyuDataError: if the file is not HDF5 or lacks `rgb`/`depth` of those shapes.
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise NyuDataError(f"{path} is not a readable HDF5 file ({error}): re-extract the FastDepth archive") from error
    with f:
        for key in ("rgb", "depth"):
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise NyuDataError(f"{path} has no dataset {key!r}: expected FastDepth files with 'rgb' and 'depth'")
        rgb, depth = f["rgb"], f["depth"]
        if rgb.ndim != 3 or rgb.shape[0] != 3 or depth.shape != rgb.shape[1:] or rgb.dtype != np.uint8:
            raise NyuDataError(
                f"{path}: 'rgb' is {rgb.dtype} {rgb.shape} and 'depth' {depth.shape}; "
                "expected uint8 (3, H, W) and (H, W), as in FastDepth's (3, 480, 640) and (480, 640)"
            )
        return make_frame(np.transpose(rgb[()], (1, 2, 0)), depth[()])
