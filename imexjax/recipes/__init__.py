"""Experiments end to end: Q-tips segmentation and NYU depth, from data to trained run and figures.

Each recipe is a config class with its presets (`QtipsConfig`, `DepthConfig`), a `run_*`
function that wires its data to a task (`imexjax.tasks`) and the engine (`imexjax.train`),
and what the experiment scripts share (`add_config_flags`, `run_command`).
"""

from ._cli import OneLineErrorParser as OneLineErrorParser
from ._cli import run_command as run_command
from ._config_flags import add_config_flags as add_config_flags
from ._config_flags import add_field_flags as add_field_flags
from ._config_flags import check_network_flags as check_network_flags
from ._config_flags import config_from_args as config_from_args
from ._load import load_run as load_run
from ._machine_flags import add_cluster_flags as add_cluster_flags
from ._machine_flags import add_compilation_cache_flags as add_compilation_cache_flags
from ._machine_flags import configure_cpu_from_flags as configure_cpu_from_flags
from ._machine_flags import enable_cache_from_flags as enable_cache_from_flags
from ._machine_flags import initialize_from_flags as initialize_from_flags
from ._nyu import depth_task as depth_task
from ._nyu import predict_depth as predict_depth
from ._nyu import run_nyu as run_nyu
from ._nyu_compare import compare_depth_runs as compare_depth_runs
from ._nyu_compare import metrics_table as metrics_table
from ._nyu_config import NYU_NETWORK_PRESETS as NYU_NETWORK_PRESETS
from ._nyu_config import NYU_PRESETS as NYU_PRESETS
from ._nyu_config import DepthConfig as DepthConfig
from ._nyu_config import nyu_config as nyu_config
from ._nyu_data import input_statistics as input_statistics
from ._nyu_data import normalize_rgb as normalize_rgb
from ._nyu_data import open_depth_data as open_depth_data
from ._presets import presets_by_network as presets_by_network
from ._qtips import load_qtips_data as load_qtips_data
from ._qtips import normalize_images as normalize_images
from ._qtips import predict_qtips as predict_qtips
from ._qtips import qtips_selection_split as qtips_selection_split
from ._qtips import qtips_validation_images as qtips_validation_images
from ._qtips import run_qtips as run_qtips
from ._qtips_config import EVAL_SPLITS as EVAL_SPLITS
from ._qtips_config import QTIPS_NETWORK_PRESETS as QTIPS_NETWORK_PRESETS
from ._qtips_config import QTIPS_PRESETS as QTIPS_PRESETS
from ._qtips_config import QtipsConfig as QtipsConfig
from ._qtips_config import qtips_config as qtips_config
