"""Finished runs of any experiment, read back as one type."""

import json
import os
import pathlib

from .._errors import RunNotFoundError
from ..train import FinishedRun, RunDir, TrainConfig
from ._nyu_config import DepthConfig
from ._qtips_config import QtipsConfig

CONFIG_TYPES: dict[str, type[TrainConfig]] = {"qtips": QtipsConfig, "depth": DepthConfig}
"""The config class of each experiment, by the `task` its runs record in `data.json`."""


def load_run(workdir: str | os.PathLike) -> FinishedRun:
    """Reads a finished Q-tips or depth run: config, metrics, history, data and the best network.

    Raises:
      RunNotFoundError: `workdir` holds no finished run.
      ConfigError: its files cannot be read.
    """
    path = pathlib.Path(workdir) / "data.json"
    if not path.is_file():
        raise RunNotFoundError(f"{workdir} holds no finished run (data.json is missing); train it first")
    task = json.loads(path.read_text()).get("task")
    if task not in CONFIG_TYPES:
        raise RunNotFoundError(
            f"{workdir} holds a run of unknown task {task!r}; expected one of {', '.join(CONFIG_TYPES)}"
        )
    return RunDir(workdir).load(CONFIG_TYPES[task])
