"""The one flow of every recipe: the run's folder, its data, the task and loaders, the engine, the figures."""

import dataclasses
import os
import pathlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import jax

from .._figures import figures_line
from ..train import Loader, RunDir, RunResult, Task, TrainConfig, train_and_evaluate

Opened = TypeVar("Opened")


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What a task hands the engine once its data is open.

    Attributes:
      task: the loss, metrics and predictions (`imexjax.tasks`).
      train_loader: batches of the training split, standardized.
      val_loader: batches of the split the run evaluates on.
      in_channels: channels of the inputs.
      data: what `data.json` records beyond the data's identity (input statistics...).
      figures: `(result, folder) -> paths`: writes the task's figures of a finished run.
    """

    task: Task
    train_loader: Loader
    val_loader: Loader
    in_channels: int
    data: dict[str, Any]
    figures: Callable[[RunResult, pathlib.Path], list[pathlib.Path]]


def run_recipe(
    config: TrainConfig,
    workdir: str | os.PathLike,
    *,
    open_data: Callable[[], tuple[dict[str, Any], Opened]],
    prepare: Callable[[Opened, dict[str, Any] | None], Prepared],
    progress: bool = True,
) -> RunResult:
    """Trains and evaluates a task's network, in the order every recipe follows.

    The workdir is checked against `config`, then the data opened (`open_data`, which checks
    what it can before reading) and checked against the data a resumed run started on; only
    then does `prepare` build the task and the loaders, and the engine
    (`imexjax.train.train_and_evaluate`) write anything. Process 0 then writes the figures and
    prints their paths on stderr in one line (`figures: W/predictions.png, ...`).

    Args:
      config: the run's configuration.
      workdir: the run's folder (resumed if it holds checkpoints of the same config and data).
      open_data: `() -> (identity, opened)`: what names the data in `data.json` (a resumed run
        must match every entry), and the opened data `prepare` takes.
      prepare: `(opened, saved) -> Prepared`, `saved` the `data.json` of the run resumed (None
        for a new run), whose statistics a task may reuse.
      progress: show progress bars.

    Returns:
      The run's metrics, history and best model.
    """
    run_dir = RunDir(workdir)
    run_dir.check_config(config)
    identity, opened = open_data()
    saved = run_dir.check_data(identity)
    prepared = prepare(opened, saved)
    result = train_and_evaluate(
        config,
        run_dir,
        task=prepared.task,
        train_loader=prepared.train_loader,
        val_loader=prepared.val_loader,
        in_channels=prepared.in_channels,
        data={**identity, **prepared.data},
        progress=progress,
    )
    if jax.process_index() == 0:
        paths = prepared.figures(result, run_dir.path)
        print(figures_line(paths), file=sys.stderr, flush=True)
    return result
