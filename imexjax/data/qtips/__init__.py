"""Q-tips: the synthetic segmentation set of IMEXnet (generator, folder layout, tfds builder).

`Qtips`, the tensorflow-datasets builder, is looked up on first access, so importing this
package does not import `tensorflow_datasets`.
"""

from typing import TYPE_CHECKING

from ._errors import QtipsDataError as QtipsDataError
from ._generate import CLASS_NAMES as CLASS_NAMES
from ._generate import MIN_QTIPS_SIZE as MIN_QTIPS_SIZE
from ._generate import NUM_CLASSES as NUM_CLASSES
from ._generate import QTIPS_SIZE as QTIPS_SIZE
from ._generate import generate_qtips as generate_qtips
from ._generate import generated_bytes as generated_bytes
from ._generate import qtips_splits as qtips_splits
from ._layout import read_qtips_folder as read_qtips_folder
from ._layout import write_qtips_folder as write_qtips_folder
from ._tfds import build_qtips_tfds as build_qtips_tfds
from ._tfds import load_qtips_tfds as load_qtips_tfds

if TYPE_CHECKING:
    from ._builder import Qtips as Qtips


def __getattr__(name: str) -> type:
    """`Qtips` (imports `tensorflow_datasets` the first time); any other name is missing."""
    if name == "Qtips":
        from ._builder import Qtips

        return Qtips
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "Qtips"])
