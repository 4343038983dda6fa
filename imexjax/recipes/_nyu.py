"""A depth run on NYU Depth V2 (or synthetic rooms): data, loaders, training, figures."""

import os
import pathlib

import numpy as np

from ..data.nyu import DepthSource
from ..tasks import DepthTask, predict, write_depth_figures
from ..train import FinishedRun, Loader, RunResult
from ._flow import Prepared, run_recipe
from ._nyu_config import DepthConfig
from ._nyu_data import first_frames, input_statistics, normalize_rgb, open_depth_data

FIGURE_FRAMES = 4
"""Validation frames shown in the figures (the first ones of the split)."""

_STATISTICS = ("rgb_mean", "rgb_std", "log_depth_mean", "statistics_frames")


def run_nyu(
    config: DepthConfig,
    workdir: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    format: str = "auto",
    progress: bool = True,
    figure_frames: int = FIGURE_FRAMES,
) -> RunResult:
    """Trains and evaluates a depth network; writes metrics, checkpoints and figures to `workdir`.

    Inputs are RGB standardized per channel by training-set statistics (`input_statistics`);
    the task is `DepthTask` (L1 on log depth, valid pixels only) offset by the training mean
    log depth; metrics (`val_rmse`, `val_abs_rel`, `val_log10`, `val_delta1..3`, `val_loss`)
    are over every valid pixel of the validation split, at the best epoch by validation loss.
    Everything is checked and the data opened before anything is written: a bad config,
    missing or corrupt data, or a workdir of another run leaves `workdir` untouched.

    Writes, besides what `train_and_evaluate` writes (`config.json`, `data.json` with the input
    statistics, reused on resume, `history.jsonl`, `metrics.json`, `checkpoints/`):
    `predictions.png` (RGB | ground truth | prediction), `errors.png` (relative error maps)
    and `history.png`, whose paths it then prints on stderr in one line (`figures: ...`).

    Args:
      config: the run's configuration (`NYU_PRESETS`).
      workdir: the run's folder (resumed if it holds checkpoints of the same config and data).
      data: the NYU path; None for synthetic rooms.
      format: `auto`, `labeled_mat`, `fastdepth`, `tfds` or `synthetic`.
      progress: show progress bars.
      figure_frames: validation frames shown in `predictions.png` and `errors.png`.

    Returns:
      The run's metrics, history and best model.

    Raises:
      ConfigError: bad configuration, a run that cannot fit in the machine's memory
        (`TrainConfig.check_memory`), or `workdir` holds another run.
      NyuDataError: the data is missing, not recognised or corrupt.
      TrainingDivergedError: the loss became NaN or infinite.
    """

    def open_data() -> tuple[dict, tuple[DepthSource, DepthSource]]:
        config.check_memory(config.resolution, 3, image_field="resolution")  # frames are read a batch at a time
        train_source, val_source, identity = open_depth_data(config, data, format=format)
        return identity, (train_source, val_source)

    def prepare(sources: tuple[DepthSource, DepthSource], saved: dict | None) -> Prepared:
        train_source, val_source = sources
        stats = {k: saved[k] for k in _STATISTICS} if saved else input_statistics(train_source)
        task = DepthTask(stats["log_depth_mean"])

        def standardize(rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return normalize_rgb(rgb, stats["rgb_mean"], stats["rgb_std"]), depth

        def figures(result: RunResult, folder: pathlib.Path) -> list[pathlib.Path]:
            rgb, truth = first_frames(val_source, figure_frames)
            label = config.label
            return write_depth_figures(
                folder,
                rgb,
                truth,
                {label: predict_depth(result, rgb, stats)},
                {label: result.history},
                title=depth_title(label, result.metrics),
            )

        return Prepared(
            task=task,
            train_loader=Loader(
                train_source,
                config.batch_size,
                shuffle=True,
                seed=config.seed,
                drop_remainder=True,
                transform=standardize,
            ),
            val_loader=Loader(
                val_source, config.batch_size, shuffle=False, drop_remainder=False, transform=standardize
            ),
            in_channels=3,
            data={
                "train_source": train_source.name,
                "val_source": val_source.name,
                **stats,
                "min_depth": task.min_depth,
                "max_depth": task.max_depth,
                "loss_kind": "l1_log_depth",
            },
            figures=figures,
        )

    return run_recipe(config, workdir, open_data=open_data, prepare=prepare, progress=progress)


def depth_task(run: FinishedRun) -> DepthTask:
    """The `DepthTask` a finished depth run was trained with (its log-depth offset and clip)."""
    return DepthTask(run.data["log_depth_mean"], min_depth=run.data["min_depth"], max_depth=run.data["max_depth"])


def predict_depth(run: FinishedRun | RunResult, rgb: np.ndarray, statistics: dict | None = None) -> np.ndarray:
    """Predicted depth (N, H, W) in metres of uint8 images (N, H, W, 3) by a trained run's model.

    Args:
      run: a finished run, or the result of `run_nyu` (then pass `statistics`).
      rgb: uint8 (N, H, W, 3).
      statistics: `rgb_mean`, `rgb_std` and `log_depth_mean`; None to take them from `run.data`.
    """
    stats = statistics if statistics is not None else run.data
    task = DepthTask(stats["log_depth_mean"]) if statistics is not None else depth_task(run)
    return predict(run.model, task, normalize_rgb(rgb, stats["rgb_mean"], stats["rgb_std"]), batch_size=8)


def depth_title(label: str, metrics: dict) -> str:
    """A figure title with the validation rmse, abs_rel and delta1 of a run."""
    return (
        f"{label}: validation rmse {metrics['val_rmse']:.3f} m, abs_rel {metrics['val_abs_rel']:.3f}, "
        f"delta1 {metrics['val_delta1']:.3f}"
    )
