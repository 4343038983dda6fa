"""Seeded Q-tips generator: one bar per image whose end markers set its class."""

import math

import numpy as np

NUM_CLASSES = 4
"""Classes of a Q-tips label map: the background and the three kinds of bar."""
CLASS_NAMES = ("background", "white-white", "white-black", "black-black")
"""The name of each class, by label value (0 is the background)."""

QTIPS_SIZE = 64
"""The height and width of Q-tips images, as the authors drew them."""

BACKGROUND_GREY = 64
BODY_GREY = 128
WHITE_MARKER_GREY = 255
BLACK_MARKER_GREY = 1

_REFERENCE_SIZE = 64
_LENGTH_RANGE = (32.0, 60.0)  # bar length in pixels at the reference size
_WIDTH_RANGE = (3.0, 7.0)  # bar width in pixels, whatever the size
_MIN_MARKER_LENGTH = 4.0
_IMAGES_PER_CHUNK = 256  # bounds the float work arrays to ~8 MB each at 64 x 64

MIN_QTIPS_SIZE = math.ceil(3 * _MIN_MARKER_LENGTH * _REFERENCE_SIZE / _LENGTH_RANGE[0])
"""The smallest image size (24) at which every bar keeps its markers at their minimum length:
the shortest bar, half the image, holds two 4-pixel end markers and a body as long. Smaller
images are drawn too, with markers of a third of the bar."""


def generate_qtips(
    num_images: int, *, seed: int | np.random.SeedSequence, size: int = QTIPS_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Draws Q-tips images and their segmentation labels.

    Each image holds one bar centred on the image centre and rotated by an angle drawn
    uniformly in [0, 2 pi). Its length is uniform in [32, 60] pixels (scaled by size / 64), its
    width uniform in [3, 7] pixels. The class, uniform in {1, 2, 3}, sets the two end markers,
    each the last `max(4, round(width))` pixels of the bar (at most a third of the bar):
    1 white-white, 2 white-black (either end may be the white one), 3 black-black. Grey levels
    are those of the authors' PNGs: background 64, body 128, white marker 255, black marker 1.
    Pixels are in the bar when their centres are in the rotated rectangle.

    Each image uses one row of random draws, so the first k images of a seed do not depend on
    `num_images`.

    Args:
      num_images: number of images N (>= 0).
      seed: seed of `np.random.default_rng`; equal seeds give equal arrays.
      size: image height and width S in pixels.

    Returns:
      `(images, labels)`, both uint8 of shape (N, S, S): `images` holds the grey levels above,
      `labels` holds 0 on the background and the class (1..3) on every bar pixel, markers
      included.
    """
    if num_images < 0:
        raise ValueError(f"num_images must be >= 0, got {num_images}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    draws = np.random.default_rng(seed).random((num_images, 4))
    angles = 2 * np.pi * draws[:, 0]
    low, high = _LENGTH_RANGE
    lengths = (low + (high - low) * draws[:, 1]) * (size / _REFERENCE_SIZE)
    low, high = _WIDTH_RANGE
    widths = low + (high - low) * draws[:, 2]
    classes = (1 + np.floor(3 * draws[:, 3])).astype(np.uint8)

    images = np.empty((num_images, size, size), np.uint8)
    labels = np.empty((num_images, size, size), np.uint8)
    for start in range(0, num_images, _IMAGES_PER_CHUNK):
        chunk = slice(start, start + _IMAGES_PER_CHUNK)
        images[chunk], labels[chunk] = _draw_bars(angles[chunk], lengths[chunk], widths[chunk], classes[chunk], size)
    return images, labels


def generated_bytes(num_images: int, size: int = QTIPS_SIZE) -> int:
    """The bytes `generate_qtips` allocates for `num_images` images: their draws, images and labels."""
    return num_images * (4 * 8 + 2 * size * size)


def _draw_bars(
    angles: np.ndarray, lengths: np.ndarray, widths: np.ndarray, classes: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rasterises one bar per image from per-image parameters of shape (B,).

    Returns:
      `(images, labels)`, uint8 of shape (B, size, size).
    """
    offsets = np.arange(size) - (size - 1) / 2  # pixel centres relative to the image centre
    rows, cols = offsets[None, :, None], offsets[None, None, :]
    cos, sin = np.cos(angles)[:, None, None], np.sin(angles)[:, None, None]
    along = cos * cols + sin * rows
    across = cos * rows - sin * cols

    half_lengths = lengths[:, None, None] / 2
    marker_lengths = np.minimum(np.maximum(_MIN_MARKER_LENGTH, np.round(widths)), lengths / 3)
    marker_lengths = marker_lengths[:, None, None]
    in_bar = (np.abs(along) <= half_lengths) & (np.abs(across) <= widths[:, None, None] / 2)
    in_head = in_bar & (along > half_lengths - marker_lengths)
    in_tail = in_bar & (along < marker_lengths - half_lengths)

    head_greys = np.where(classes <= 2, WHITE_MARKER_GREY, BLACK_MARKER_GREY)[:, None, None]
    tail_greys = np.where(classes == 1, WHITE_MARKER_GREY, BLACK_MARKER_GREY)[:, None, None]
    images = np.where(in_bar, BODY_GREY, BACKGROUND_GREY)
    images = np.where(in_head, head_greys, images)
    images = np.where(in_tail, tail_greys, images)
    labels = np.where(in_bar, classes[:, None, None], 0)
    return images.astype(np.uint8), labels.astype(np.uint8)


def qtips_splits(
    *, seed: int = 0, num_train: int = 1024, num_val: int = 64, size: int = QTIPS_SIZE
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Draws the Q-tips training and validation sets of the paper (1024 and 64 images).

    The two splits come from independent streams spawned from `seed`, so changing `num_val`
    leaves the training set unchanged (and vice versa).

    Args:
      seed: seed of both splits.
      num_train: number of training images.
      num_val: number of validation images.
      size: image height and width S in pixels.

    Returns:
      `{"train": (images, labels), "val": (images, labels)}`, each array uint8 of shape
      (N, S, S) as returned by `generate_qtips`.
    """
    train_seed, val_seed = np.random.SeedSequence(seed).spawn(2)
    return {
        "train": generate_qtips(num_train, seed=train_seed, size=size),
        "val": generate_qtips(num_val, seed=val_seed, size=size),
    }
