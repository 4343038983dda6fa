"""A prepared tfds `nyu_depth_v2`, read by index with `tfds.data_source` (no TensorFlow)."""

import json
import os
from pathlib import Path

from ._errors import NyuDataError, missing_data_message
from ._source import Frame, Split, check_index, check_split, make_frame

TFDS_NAME = "nyu_depth_v2"
"""The tfds dataset name, and the folder it prepares under its data_dir."""

_TFDS_SPLITS: dict[str, str] = {"train": "train", "val": "validation"}


def find_tfds_data_dir(path: str | os.PathLike) -> Path | None:
    """The tfds data_dir that `path` names, or None.

    Args:
      path: a data_dir holding `nyu_depth_v2/`, that `nyu_depth_v2/` folder itself, or one
        of its version folders (which hold `dataset_info.json`).
    """
    path = Path(path)
    if (path / TFDS_NAME).is_dir():
        return path
    if path.name == TFDS_NAME and path.is_dir():
        return path.parent
    if path.parent.name == TFDS_NAME and (path / "dataset_info.json").is_file():
        return path.parent.parent
    return None


class TfdsSource:
    """Frames of a prepared tfds `nyu_depth_v2` (FastDepth's frames, 480 x 640).

    Reading by index needs the dataset prepared with `file_format=array_record` (tfds's
    default `tfrecord` only streams). Features: `image` uint8 (480, 640, 3) and `depth`
    float16 (480, 640) in metres; frames come out as rgb uint8 (H, W, 3) and depth float32
    (H, W). `tensorflow_datasets` is imported only when a source is made.

    Args:
      data_dir: the tfds data_dir (or its `nyu_depth_v2/` or version folder).
      split: `"train"` or `"val"` (tfds's `validation`).

    Raises:
      NyuDataError: if tfds cannot open the dataset; the message says why (not prepared,
        prepared as tfrecord, or not there at all).
    """

    def __init__(self, data_dir: str | os.PathLike, split: Split = "train"):
        import tensorflow_datasets as tfds

        self.split = check_split(split)
        self.data_dir = str(find_tfds_data_dir(data_dir) or data_dir)
        try:
            self._source = tfds.data_source(
                TFDS_NAME, split=_TFDS_SPLITS[self.split], data_dir=self.data_dir, download=False
            )
        except Exception as error:  # tfds raises many types; each becomes one NyuDataError.
            raise NyuDataError(_diagnose(Path(self.data_dir), error)) from error
        self.name = f"tfds/{self.split}"

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> Frame:
        """Frame `index` of the split: rgb uint8 (H, W, 3), depth float32 (H, W), metres."""
        example = self._source[check_index(index, len(self))]
        return make_frame(example["image"], example["depth"])


def _diagnose(data_dir: Path, error: Exception) -> str:
    """Why tfds could not open `nyu_depth_v2` under `data_dir`, and what to do."""
    folder = data_dir / TFDS_NAME
    if not folder.is_dir():
        return missing_data_message(data_dir)
    infos = sorted(folder.glob("*/dataset_info.json"))
    if not infos:
        return (
            f"{folder} holds no prepared version (no <version>/dataset_info.json): prepare it with "
            "file_format=array_record, or open the FastDepth .h5 tree it is built from instead"
        )
    file_format = json.loads(infos[-1].read_text()).get("fileFormat", "tfrecord")
    if file_format != "array_record":
        return (
            f"{infos[-1].parent} was prepared as {file_format}, which cannot be read by index: re-prepare "
            "it with `tfds build nyu_depth_v2 --file_format=array_record`, or open the FastDepth .h5 tree instead"
        )
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"tfds cannot read {folder}: {first_line}"
