"""`load_nyu`: one entry point for every NYU source."""

import os

from ._detect import FORMATS, detect_format
from ._errors import NyuDataError
from ._fastdepth import FastDepthSource
from ._labeled_mat import LabeledMatSource
from ._resize import ResizedSource
from ._source import DepthSource, Split, check_split
from ._synthetic import SyntheticScenes
from ._tfds import TfdsSource


def load_nyu(
    path: str | os.PathLike | None,
    *,
    format: str = "auto",
    split: Split = "train",
    resolution: tuple[int, int] | None = None,
    seed: int = 0,
) -> DepthSource:
    """Opens NYU Depth V2 (or the synthetic stand-in) as a `DepthSource`.

    Args:
      path: `nyu_depth_v2_labeled.mat` (or its folder), a FastDepth root, or a tfds data_dir;
        ignored (may be None) for `format="synthetic"`.
      format: `"auto"` (see `detect_format`), `"labeled_mat"`, `"fastdepth"`, `"tfds"` or
        `"synthetic"`.
      split: `"train"` or `"val"`.
      resolution: `(height, width)` to resize frames to on read (rgb bilinear, depth nearest),
        or None for the stored size (480 x 640 for NYU, 120 x 160 for synthetic scenes, which
        are rendered at `resolution` directly rather than resized).
      seed: the seed of the synthetic scenes; NYU sources ignore it (their splits are fixed).

    Returns:
      A source of frames: rgb uint8 (H, W, 3) and depth float32 (H, W), metres, 0 = invalid.

    Raises:
      NyuDataError: if the data is missing, not recognised or corrupt.
      ValueError: for an unknown `format` or `split`.
    """
    split = check_split(split)
    if format not in ("auto", *FORMATS):
        raise ValueError(f"unknown format {format!r}; choose auto, {', '.join(FORMATS)}")
    if format == "synthetic":
        if resolution is None:
            return SyntheticScenes(split, seed=seed)
        return SyntheticScenes(split, resolution=resolution, seed=seed)
    if path is None:
        raise NyuDataError(f"format {format!r} needs a path to the data: pass one, or use format 'synthetic'")
    if format == "auto":
        format = detect_format(path)
    source: DepthSource
    if format == "labeled_mat":
        source = LabeledMatSource(path, split)
    elif format == "fastdepth":
        source = FastDepthSource(path, split)
    else:
        source = TfdsSource(path, split)
    return source if resolution is None else ResizedSource(source, resolution)
