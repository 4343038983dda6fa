"""The training engine: a config, the loop, loaders (grain), checkpoints (orbax), data parallelism, run folders.

It knows a task only through the `Task` protocol (the tasks themselves are in `imexjax.tasks`)
and names no dataset; the experiments that wire data to it are in `imexjax.recipes`.
"""

from .._errors import ConfigError as ConfigError
from .._errors import TrainingDivergedError as TrainingDivergedError
from ._checkpoint_digests import DamagedCheckpointError as DamagedCheckpointError
from ._checkpoints import RunCheckpoints as RunCheckpoints
from ._compilation_cache import compilation_cache_info as compilation_cache_info
from ._compilation_cache import default_compilation_cache_dir as default_compilation_cache_dir
from ._compilation_cache import enable_compilation_cache as enable_compilation_cache
from ._config import TrainConfig as TrainConfig
from ._disk_full import DiskFullError as DiskFullError
from ._distributed import check_batch_size as check_batch_size
from ._distributed import data_mesh as data_mesh
from ._distributed import initialize_distributed as initialize_distributed
from ._distributed import replicate as replicate
from ._distributed import shard_batch as shard_batch
from ._loader import ArraySource as ArraySource
from ._loader import Loader as Loader
from ._loader import Source as Source
from ._loader import fingerprint as fingerprint
from ._loop import RunResult as RunResult
from ._loop import train_and_evaluate as train_and_evaluate
from ._model import build_model as build_model
from ._model import make_optimizer as make_optimizer
from ._rundir import FinishedRun as FinishedRun
from ._rundir import RunDir as RunDir
from ._step import make_train_step as make_train_step
from ._task import Task as Task
from ._xla_cpu import route_cpu_convolutions as route_cpu_convolutions
from ._xla_cpu import use_cpu_devices as use_cpu_devices
