"""Which NYU layout a path holds."""

import os
from pathlib import Path

from ._errors import NyuDataError, missing_data_message
from ._fastdepth import find_fastdepth_root
from ._labeled_mat import find_labeled_mat
from ._tfds import find_tfds_data_dir

FORMATS: tuple[str, ...] = ("labeled_mat", "fastdepth", "tfds", "synthetic")
"""The format names `load_nyu` accepts (besides `"auto"`)."""


def detect_format(path: str | os.PathLike) -> str:
    """The NYU layout at `path`: `"labeled_mat"`, `"fastdepth"` or `"tfds"`.

    Checked in that order: a `.mat` or HDF5 file, or a folder holding
    `nyu_depth_v2_labeled.mat`; a folder holding `train/` or `val/` with `.h5` files below
    (or such a `nyudepthv2/`); a tfds data_dir holding `nyu_depth_v2/` (or that folder or one
    of its version folders). `"synthetic"` is never detected: it is chosen by name only.

    Raises:
      NyuDataError: if `path` does not exist or holds none of these; the message names the
        accepted layouts and `--format synthetic`.
    """
    if not Path(path).exists():
        raise NyuDataError(missing_data_message(path))
    if find_labeled_mat(path) is not None:
        return "labeled_mat"
    if find_fastdepth_root(path) is not None:
        return "fastdepth"
    if find_tfds_data_dir(path) is not None:
        return "tfds"
    raise NyuDataError(missing_data_message(path))
