"""The authors' Q-tips folder layout: `train/` and `val/` of grey PNGs and `filenames.txt`.

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
from ._png import read_png

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

    Images are read as 8-bit grey levels (16-bit grey scaled to 0..255) and labels as class ids
    (palette files as their indices); `imexjax.data.qtips._png` lists the PIL modes read.

    Args:
      directory: the folder that holds `train/` and `val/`.

    Returns:
      `{"train": (images, labels), "val": (images, labels)}`, each array uint8 of shape
      (N, H, W) in the order of `filenames.txt`; labels are class ids 0..3.

    Raises:
      QtipsDataError: a folder, list or listed file is missing, a list is not UTF-8, a PNG
        cannot be read or has a mode or colours that cannot be, sizes differ (within a split or
        between the splits), a label is outside 0..3, or a split is empty.
    """
    root = Path(directory)
    if not root.is_dir():
        raise QtipsDataError(
            f"Q-tips folder {root} does not exist; pass the folder that holds train/ and val/ "
            f"(write one with write_qtips_folder)"
        )
    splits = {name: _read_split(root / name) for name in SPLIT_NAMES}
    (train_images, _), (val_images, _) = splits["train"], splits["val"]
    if train_images.shape[1:] != val_images.shape[1:]:
        raise QtipsDataError(
            f"the images of {root / 'train'} are {_size(train_images[0])} but those of {root / 'val'} are "
            f"{_size(val_images[0])}; train and val images must share one size"
        )
    return splits


def _size(image: np.ndarray) -> str:
    """`WIDTHxHEIGHT` of an (H, W) image, as image tools state sizes."""
    return f"{image.shape[1]}x{image.shape[0]}"


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
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise QtipsDataError(
            f"{list_file} is not UTF-8 text (byte {error.start}); save it as UTF-8, one PNG file name per line"
        ) from None
    file_names = [line.strip() for line in text.splitlines() if line.strip()]
    if not file_names:
        raise QtipsDataError(f"{list_file} lists no files; each split needs at least one image")

    images, labels = [], []
    for file_name in file_names:
        image = read_png(split_dir / "images" / file_name, list_file, is_label=False)
        label = read_png(split_dir / "labels" / file_name, list_file, is_label=True)
        if image.shape != label.shape:
            raise QtipsDataError(
                f"image {file_name} in {split_dir} is {_size(image)} but its label is {_size(label)}; "
                f"an image and its label must match"
            )
        if images and image.shape != images[0].shape:
            raise QtipsDataError(
                f"image {file_name} in {split_dir} is {_size(image)} but {file_names[0]} is "
                f"{_size(images[0])}; all images of a split must share one size"
            )
        outside = (label < 0) | (label >= NUM_CLASSES)
        if outside.any():
            bad_values = np.unique(label[outside]).tolist()
            raise QtipsDataError(
                f"label file {split_dir / 'labels' / file_name} has values {bad_values} outside "
                f"0..{NUM_CLASSES - 1}; labels must be class ids 0 (background) to "
                f"{NUM_CLASSES - 1}"
            )
        images.append(image)
        labels.append(label.astype(np.uint8))
    return np.stack(images), np.stack(labels)
