"""Reading one Q-tips PNG, an image or a label, whatever its PIL mode, or refusing it in one line.

Images become 8-bit grey: "L" as stored (PNGs of 1, 2 or 4 bits are scaled to 0..255 by PIL),
"1" as 0 and 255, 16-bit grey ("I;16", "I;16B", ...) divided by 257 and rounded (65535 -> 255,
the 8-bit scale), and colour or palette modes ("RGB", "RGBA", "LA", "P", "PA") as their grey
level where every pixel is grey (R = G = B), their alpha ignored. Labels are class ids: "L",
"I;16..." and "I" as stored, "1" as 0 and 1, palette modes ("P", "PA") as their indices, and
"RGB", "RGBA", "LA" as their grey level where every pixel is grey. Anything else (colour
pixels, floating point, CMYK...) is refused.
"""

from pathlib import Path

import numpy as np

from ._errors import QtipsDataError

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_COLOUR_MODES = ("RGB", "RGBA", "LA", "P", "PA")
_IMAGE_HINT = "save it as an 8-bit or 16-bit grey PNG"
_LABEL_HINT = "save class ids 0..3 as an 8-bit grey or palette PNG"


def read_png(path: Path, list_file: Path, *, is_label: bool) -> np.ndarray:
    """One PNG as an array of shape (H, W): an image as uint8 grey, a label as int64 class ids.

    Args:
      path: the PNG.
      list_file: the `filenames.txt` that lists it (named in messages).
      is_label: read class ids (True) or grey levels (False); see the module docstring.

    Raises:
      QtipsDataError: the file is missing, cannot be decoded, or has a mode or colours that
        cannot be read as asked.
    """
    from PIL import Image

    if not path.is_file():
        raise QtipsDataError(
            f"{path} is listed in {list_file} but missing; add the file or remove its name from the list"
        )
    try:
        with Image.open(path) as picture:
            picture.load()  # the pixels stay in memory once the file is closed
    except (OSError, SyntaxError, ValueError) as error:  # PIL's errors for corrupt files
        reason = " ".join(str(error).split()) or type(error).__name__
        raise QtipsDataError(
            f"cannot read PNG {path} ({reason}); replace the corrupt file or remove its name from {list_file}"
        ) from error
    return _label_values(picture, path) if is_label else _grey_levels(picture, path)


def _grey_levels(picture, path: Path) -> np.ndarray:
    """The grey levels 0..255 (uint8) of an image."""
    if picture.mode == "L":
        return np.asarray(picture, dtype=np.uint8)
    if picture.mode == "1":
        return np.asarray(picture.convert("L"), dtype=np.uint8)
    if picture.mode in _SIXTEEN_BIT_MODES:
        return np.round(np.asarray(picture, dtype=np.float64) / 257).astype(np.uint8)
    if picture.mode in _COLOUR_MODES:
        return _grey_channel(np.asarray(picture.convert("RGB")), path, "image", _IMAGE_HINT)
    raise QtipsDataError(f"image {path} has PIL mode {picture.mode}, which Q-tips cannot read; {_IMAGE_HINT}")


def _label_values(picture, path: Path) -> np.ndarray:
    """The class ids (int64) of a label file: values as stored, palette indices for palette modes."""
    if picture.mode in ("L", "P", "1", "I", *_SIXTEEN_BIT_MODES):
        return np.asarray(picture).astype(np.int64)
    if picture.mode == "PA":
        return np.asarray(picture)[..., 0].astype(np.int64)
    if picture.mode in ("RGB", "RGBA", "LA"):
        return _grey_channel(np.asarray(picture.convert("RGB")), path, "label", _LABEL_HINT).astype(np.int64)
    raise QtipsDataError(f"label {path} has PIL mode {picture.mode}, which Q-tips cannot read; {_LABEL_HINT}")


def _grey_channel(rgb: np.ndarray, path: Path, kind: str, hint: str) -> np.ndarray:
    """The red channel of (H, W, 3) `rgb` if every pixel is grey (R = G = B), else refuses with `hint`."""
    if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
        raise QtipsDataError(f"{kind} {path} has colour pixels, and Q-tips {kind}s are grey; {hint}")
    return rgb[..., 0]
