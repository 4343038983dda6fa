"""The interface every NYU source implements, and the checks every frame goes through."""

import operator
from typing import Literal, Protocol, runtime_checkable

import numpy as np

Split = Literal["train", "val"]
SPLITS: tuple[str, ...] = ("train", "val")

Frame = tuple[np.ndarray, np.ndarray]
"""`(rgb, depth)`: rgb uint8 of shape (H, W, 3); depth float32 of shape (H, W) in metres,
0 where invalid."""


@runtime_checkable
class DepthSource(Protocol):
    """A finite, random-access sequence of RGB-D frames.

    Attributes:
      name: a short description, such as `"labeled_mat/train"`.
    """

    name: str

    def __len__(self) -> int:
        """The number of frames."""
        ...

    def __getitem__(self, index: int) -> Frame:
        """Frame `index`: rgb uint8 (H, W, 3) and depth float32 (H, W), metres, 0 = invalid."""
        ...


def check_split(split: str) -> Split:
    """Returns `split` if it is `"train"` or `"val"`; raises ValueError otherwise."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'val'")
    return split  # type: ignore[return-value]


def check_index(index: int, length: int) -> int:
    """Returns `index` as a non-negative int, counting negative ones from the end.

    Raises:
      IndexError: if `index` is outside `[-length, length)`.
    """
    i = operator.index(index)
    if not -length <= i < length:
        raise IndexError(f"frame {i} out of range for {length} frames")
    return i % length


def make_frame(rgb: np.ndarray, depth: np.ndarray) -> Frame:
    """Casts a frame to the common dtypes, contiguous; non-finite or negative depth becomes 0.

    Args:
      rgb: (H, W, 3) array of 0..255 values.
      depth: (H, W) array of depths in metres.

    Returns:
      rgb uint8 (H, W, 3) and depth float32 (H, W).
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    depth = np.asarray(depth, dtype=np.float32)
    depth = np.ascontiguousarray(np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(0)))
    return rgb, depth
