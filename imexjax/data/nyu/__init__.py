"""NYU Depth V2 loaders (labeled .mat, FastDepth HDF5 tree, tfds), synthetic rooms."""

from ._detect import FORMATS as FORMATS
from ._detect import detect_format as detect_format
from ._errors import NyuDataError as NyuDataError
from ._fastdepth import FastDepthSource as FastDepthSource
from ._labeled_mat import LABELED_FILE as LABELED_FILE
from ._labeled_mat import LabeledMatSource as LabeledMatSource
from ._load import load_nyu as load_nyu
from ._resize import ResizedSource as ResizedSource
from ._resize import resize_frame as resize_frame
from ._source import DepthSource as DepthSource
from ._source import Frame as Frame
from ._splits import fallback_split as fallback_split
from ._splits import read_splits as read_splits
from ._synthetic import SyntheticScenes as SyntheticScenes
from ._tfds import TfdsSource as TfdsSource
