"""The authors' Q-tips folder layout: `train/` and `val/` of 8-bit PNGs and `filenames.txt`.

DIR/train/images/00000.png   grey levels (background 64, body 128, markers 255 and 1)
DIR/train/labels/00000.png   class ids 0 (background) to 3, same file name as the image
DIR/train/filenames.txt      one file name per line
DIR/val/...                  the same
"""

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._errors import QtipsDataError
from ._generate import NUM_CLASSES

SPLIT_NAMES = ("train", "val")
_LAYOUT_HINT = "a Q-tips folder holds train/ and val/, each with images/, labels/ and filenames.txt"


def write_qtips_folder(directory: str | os.PathLike, splits: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Writes Q-tips splits in the authors' folder layout (see the module docstring).

    File names are the image indices, zero-padded to five digits (`00000.png`). Nothing is
    written unless every split is valid and its folder is absent or empty.

    Args:
      directory: the folder to create or fill; it receives `train/` and `val/`.
      splits: `{"train": (images, labels), "val": (images, labels)}`, each array uint8 of shape
        (N, H, W) with N >= 1, labels in 0..3 (as returned by `qtips_splits`).

    Raises:
      QtipsDataError: a split is missing, empty or malformed, or its folder is not empty.
    """
    root = Path(directory)
    for name in SPLIT_NAMES:
        if name not in splits:
            raise QtipsDataError(
                f"splits has no {name!r} entry; pass {{'train': (images, labels), "
                f"'val': (images, labels)}}, e.g. qtips_splits()"
            )
        _check_split_arrays(name, *splits[name])
        split_dir = root / name
        if split_dir.exists() and (not split_dir.is_dir() or any(split_dir.iterdir())):
            raise QtipsDataError(
                f"{split_dir} already exists and is not empty; refusing to overwrite it, "
                f"choose another directory or delete it first"
            )
    for name in SPLIT_NAMES:
        _write_split(root / name, *splits[name])


def _check_split_arrays(name: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Raises QtipsDataError unless `images` and `labels` can be written as one split."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise QtipsDataError(
            f"split {name!r} has dtypes {images.dtype} and {labels.dtype}; images and labels must both be uint8"
        )
    if images.ndim != 3 or images.shape != labels.shape:
        raise QtipsDataError(
            f"split {name!r} has images of shape {images.shape} and labels of shape "
            f"{labels.shape}; both must be (N, H, W) and equal"
        )
    if len(images) == 0:
        raise QtipsDataError(f"split {name!r} is empty; give it at least one image")
    if labels.max() >= NUM_CLASSES:
        bad_values = np.unique(labels[labels >= NUM_CLASSES]).tolist()
        raise QtipsDataError(
            f"split {name!r} has label values {bad_values} outside 0..{NUM_CLASSES - 1}; "
            f"labels must be class ids 0 (background) to {NUM_CLASSES - 1}"
        )


def _write_split(split_dir: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Writes one split's PNGs and `filenames.txt` into `split_dir`."""
    from PIL import Image

    (split_dir / "images").mkdir(parents=True, exist_ok=True)
    (split_dir / "labels").mkdir(exist_ok=True)
    file_names = [f"{index:05d}.png" for index in range(len(images))]
    for file_name, image, label in zip(file_names, images, labels, strict=True):
        Image.fromarray(np.asarray(image)).save(split_dir / "images" / file_name)
        Image.fromarray(np.asarray(label)).save(split_dir / "labels" / file_name)
    (split_dir / "filenames.txt").write_text("".join(f"{name}\n" for name in file_names))


def read_qtips_folder(directory: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reads Q-tips splits from the authors' folder layout (see the module docstring).

    Images are converted to 8-bit grey ("L"); palette label files are read as their indices.

    Args:
      directory: the folder that holds `train/` and `val/`.

    Returns:
      `{"train": (images, labels), "val": (images, labels)}`, each array uint8 of shape
      (N, H, W) in the order of `filenames.txt`; labels are class ids 0..3.

    Raises:
      QtipsDataError: a folder, list or listed file is missing, a PNG cannot be read, sizes
        differ, a label is outside 0..3, or a split is empty.
    """
    root = Path(directory)
    if not root.is_dir():
        raise QtipsDataError(
            f"Q-tips folder {root} does not exist; pass the folder that holds train/ and val/ "
            f"(write one with write_qtips_folder)"
        )
    return {name: _read_split(root / name) for name in SPLIT_NAMES}


def _read_split(split_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Reads one split folder into uint8 arrays (images, labels) of shape (N, H, W)."""
    if not split_dir.is_dir():
        raise QtipsDataError(f"{split_dir} is missing; {_LAYOUT_HINT}")
    for folder_name in ("images", "labels"):
        if not (split_dir / folder_name).is_dir():
            raise QtipsDataError(f"{split_dir / folder_name} is missing; {_LAYOUT_HINT}")
    list_file = split_dir / "filenames.txt"
    if not list_file.is_file():
        raise QtipsDataError(f"{list_file} is missing; it must list the split's PNG file names, one per line")
    file_names = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    if not file_names:
        raise QtipsDataError(f"{list_file} lists no files; each split needs at least one image")

    images, labels = [], []
    for file_name in file_names:
        image = _read_png(split_dir / "images" / file_name, list_file, is_label=False)
        label = _read_png(split_dir / "labels" / file_name, list_file, is_label=True)
        if image.shape != label.shape:
            raise QtipsDataError(
                f"image {file_name} in {split_dir} is {image.shape[1]}x{image.shape[0]} but its "
                f"label is {label.shape[1]}x{label.shape[0]}; an image and its label must match"
            )
        if images and image.shape != images[0].shape:
            raise QtipsDataError(
                f"image {file_name} in {split_dir} is {image.shape[1]}x{image.shape[0]} but "
                f"{file_names[0]} is {images[0].shape[1]}x{images[0].shape[0]}; "
                f"all images of a split must share one size"
            )
        if label.max() >= NUM_CLASSES:
            bad_values = np.unique(label[label >= NUM_CLASSES]).tolist()
            raise QtipsDataError(
                f"label file {split_dir / 'labels' / file_name} has values {bad_values} outside "
                f"0..{NUM_CLASSES - 1}; labels must be class ids 0 (background) to "
                f"{NUM_CLASSES - 1}"
            )
        images.append(image)
        labels.append(label)
    return np.stack(images), np.stack(labels)


def _read_png(path: Path, list_file: Path, *, is_label: bool) -> np.ndarray:
    """Reads one PNG as a uint8 array of shape (H, W): labels keep palette indices."""
    from PIL import Image

    if not path.is_file():
        raise QtipsDataError(
            f"{path} is listed in {list_file} but missing; add the file or remove its name from the list"
        )
    try:
        with Image.open(path) as picture:
            if not (is_label and picture.mode == "P"):
                picture = picture.convert("L")
            return np.asarray(picture, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:  # PIL's errors for corrupt files
        reason = " ".join(str(error).split()) or type(error).__name__
        raise QtipsDataError(
            f"cannot read PNG {path} ({reason}); replace the corrupt file or remove its name from {list_file}"
        ) from error
