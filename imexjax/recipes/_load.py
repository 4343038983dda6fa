"""Finished runs of any experiment, read back as one type."""

import os

from .._errors import ConfigError, RunNotFoundError
from ..train import FinishedRun, RunDir, TrainConfig
from ._nyu_config import DepthConfig
from ._qtips_config import QtipsConfig

CONFIG_TYPES: dict[str, type[TrainConfig]] = {"qtips": QtipsConfig, "depth": DepthConfig}
"""The config class of each experiment, by the `task` its runs record in `data.json`."""


def load_run(workdir: str | os.PathLike, *, task: str | None = None) -> FinishedRun:
    """Reads a finished Q-tips or depth run: config, metrics, history, data and the best network.

    Args:
      workdir: the run's folder.
      task: `qtips` or `depth` to accept only runs of that task; None for either.

    Raises:
      RunNotFoundError: `workdir` holds no finished run (also a run resumed to train more
        epochs that has not finished them), or its metrics disagree with its best checkpoint.
      ConfigError: its files cannot be read, or it is a run of another task than `task`.
      DamagedCheckpointError: its best checkpoint is damaged.
    """
    run_dir = RunDir(workdir)
    data = run_dir.read_json("data.json")
    if data is None:
        raise RunNotFoundError(f"{workdir} holds no finished run (data.json is missing); train it first")
    found = data.get("task")
    if found not in CONFIG_TYPES:
        raise RunNotFoundError(
            f"{workdir} holds a run of unknown task {found!r}; expected one of {', '.join(CONFIG_TYPES)}"
        )
    if task is not None and found != task:
        raise ConfigError(f"{workdir} holds a {found} run; this command takes {task} runs")
    return run_dir.load(CONFIG_TYPES[found])
