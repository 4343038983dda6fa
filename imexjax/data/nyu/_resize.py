"""Resizing frames on read: rgb bilinear, depth nearest so that invalid zeros never blend."""

import numpy as np

from ._source import DepthSource, Frame, make_frame


def resize_frame(rgb: np.ndarray, depth: np.ndarray, resolution: tuple[int, int]) -> Frame:
    """Resizes one frame to `resolution`.

    RGB is resampled bilinearly (with PIL's antialiasing when shrinking); depth takes the
    nearest pixel, so every output depth is one of the input depths and zeros (invalid)
    stay zeros rather than pulling valid neighbours towards 0.

    Args:
      rgb: uint8 (H, W, 3).
      depth: float32 (H, W), metres, 0 = invalid.
      resolution: the output `(height, width)`.

    Returns:
      rgb uint8 (height, width, 3) and depth float32 (height, width); the inputs themselves
      when they already have that size.
    """
    height, width = resolution
    if rgb.shape[:2] == (height, width) and depth.shape == (height, width):
        return rgb, depth
    from PIL import Image

    rgb = np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))
    depth = np.asarray(Image.fromarray(np.asarray(depth, np.float32)).resize((width, height), Image.Resampling.NEAREST))
    return make_frame(rgb, depth)


class ResizedSource:
    """A view of another source whose frames are resized to `resolution` on read.

    Args:
      source: any `DepthSource`.
      resolution: the `(height, width)` of every frame read through this view.
    """

    def __init__(self, source: DepthSource, resolution: tuple[int, int]):
        height, width = (int(n) for n in resolution)
        if height < 1 or width < 1:
            raise ValueError(f"resolution must be two positive ints (height, width), got {resolution!r}")
        self.source = source
        self.resolution = (height, width)
        self.name = f"{source.name}@{height}x{width}"

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> Frame:
        """Frame `index` of the source: rgb uint8 (height, width, 3), depth float32 (height, width)."""
        rgb, depth = self.source[index]
        return resize_frame(rgb, depth, self.resolution)
