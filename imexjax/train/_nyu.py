"""A depth run on NYU Depth V2 (or synthetic rooms): presets, batches, training, figures, comparison."""

import contextlib
import dataclasses
import json
import math
import os
import pathlib
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from ..data.nyu import FORMATS, DepthSource, NyuDataError, SyntheticScenes, detect_format, iterate_batches, load_nyu  # noqa: E402
from ..data.nyu._errors import missing_data_message  # noqa: E402
from ._batches import batches_per_epoch, check_batch_size_fits  # noqa: E402
from ._checkpoints import RunCheckpoints  # noqa: E402
from ._config import ConfigError, TrainConfig, _choice  # noqa: E402
from ._depth import DepthTask  # noqa: E402
from ._loop import RunResult, build_model, check_workdir, make_optimizer, train_and_evaluate  # noqa: E402

NYU_PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(
        name="tiny", geometry=((3, 4),), epochs=1, batch_size=4, num_train=16, num_val=8, class_weighted=False
    ),
    "small": TrainConfig(
        name="small",
        geometry=((7, 16),),
        implicit_init_scale=(1.0, 16.0),
        epochs=12,
        batch_size=8,
        num_train=512,
        num_val=64,
        class_weighted=False,
    ),
    "paper": TrainConfig(
        name="paper",
        geometry=((4, 64), (4, 128), (4, 256)),
        implicit_init_scale=(1.0, 16.0),
        epochs=100,
        batch_size=8,
        num_train=1000,
        num_val=200,
        class_weighted=False,
    ),
}
"""Depth configurations: `tiny` runs in seconds (tests), `small` is the default (minutes on 2
CPU cores, synthetic rooms), `paper` is the authors' Q-tips geometry (64/128/256 channels,
h = 1, batch 8) for real data on a GPU. `num_train`/`num_val` count synthetic frames only; NYU
sources have fixed splits. `class_weighted` does not apply to depth."""

NYU_RESOLUTIONS: dict[str, tuple[int, int]] = {"tiny": (24, 32), "small": (48, 64), "paper": (240, 320)}
"""The `(height, width)` frames are resized to (rendered at, for synthetic) per preset."""

FIGURE_FRAMES = 4
"""Validation frames shown in the figures (the first ones of the split)."""

STATISTICS_FRAMES = 64
"""Training frames (evenly spaced over the split) that the input statistics are taken from."""

_DATA_KEYS = ("format", "data", "resolution", "num_train", "num_val")
"""The fields of `data.json` a resumed run must share with the run in its workdir."""


def nyu_config(name: str) -> TrainConfig:
    """The depth preset called `name`; raises ConfigError for an unknown name."""
    _choice("config", name, tuple(NYU_PRESETS))
    return NYU_PRESETS[name]


def parse_resolution(text: str) -> tuple[int, int]:
    """`"48x64"` -> `(48, 64)`; raises ConfigError unless two positive integers joined by `x`."""
    parts = str(text).lower().split("x")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"resolution must be HEIGHTxWIDTH, such as 48x64, got {text!r}") from None
    if height < 1 or width < 1:
        raise ConfigError(f"resolution must be two positive integers, got {text!r}")
    return height, width


def normalize_rgb(rgb: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """uint8 (..., 3) images to float32, standardized per channel by the training mean and std."""
    return (rgb.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


class _Subset:
    """Frames `indices` of `source`, as a source."""

    def __init__(self, source: DepthSource, indices: np.ndarray):
        self.source, self.indices, self.name = source, indices, f"{source.name}[subset]"

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return self.source[int(self.indices[index])]


def input_statistics(source: DepthSource, max_frames: int = STATISTICS_FRAMES) -> dict[str, Any]:
    """Per-channel RGB mean and std (0..255 units) and the mean log depth over valid pixels.

    Taken from at most `max_frames` frames spread evenly over `source` (always the same ones).

    Returns:
      `{"rgb_mean": [3 floats], "rgb_std": [3 floats], "log_depth_mean": float, "statistics_frames": n}`.

    Raises:
      NyuDataError: if no sampled frame has a valid depth pixel.
    """
    indices = np.unique(np.linspace(0, len(source) - 1, min(len(source), max_frames)).round().astype(np.int64))
    rgb_sum, rgb_sq, pixels, log_sum, valid = np.zeros(3), np.zeros(3), 0, 0.0, 0
    for rgb, depth in iterate_batches(
        _Subset(source, indices), 8, shuffle=False, seed=0, epoch=0, drop_remainder=False
    ):
        values = rgb.reshape(-1, 3).astype(np.float64)
        rgb_sum += values.sum(axis=0)
        rgb_sq += (values * values).sum(axis=0)
        pixels += len(values)
        positive = depth[depth > 0].astype(np.float64)
        log_sum += np.log(positive).sum()
        valid += positive.size
    if valid == 0:
        raise NyuDataError(f"{source.name}: the {len(indices)} frames sampled hold no valid depth (all depth <= 0)")
    mean = rgb_sum / pixels
    std = np.sqrt(np.maximum(rgb_sq / pixels - mean * mean, 0.0))
    std = np.where(std > 1e-6, std, 1.0)
    return {
        "rgb_mean": mean.tolist(),
        "rgb_std": std.tolist(),
        "log_depth_mean": log_sum / valid,
        "statistics_frames": len(indices),
    }


class DepthBatches:
    """`Batches` over a `DepthSource`: frames read ahead in threads, RGB standardized.

    Reads through `imexjax.data.nyu.iterate_batches`, so at most `prefetch` batches are in
    memory ahead of the one being trained on, whatever the source's size.

    Args:
      source: frames of one size.
      batch_size: frames per batch.
      mean: per-channel RGB mean (0..255 units).
      std: per-channel RGB std.
      shuffle: a new order per `(seed, epoch)` (training) or the source's order.
      seed: seeds the order.
      drop_remainder: drop the last partial batch (training) or keep it (evaluation).
      prefetch: batches read ahead.
      num_threads: reader threads.

    Raises:
      ConfigError: the batch size is not positive, or exceeds the frames when dropping the remainder.
    """

    def __init__(
        self,
        source: DepthSource,
        batch_size: int,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        shuffle: bool,
        seed: int = 0,
        drop_remainder: bool,
        prefetch: int = 2,
        num_threads: int = 2,
    ):
        check_batch_size_fits(
            batch_size, len(source), drop_remainder=drop_remainder, examples=f"training frames of {source.name}"
        )
        self.source = source
        self.batch_size = batch_size
        self.mean, self.std = list(mean), list(std)
        self.shuffle, self.seed, self.drop_remainder = shuffle, seed, drop_remainder
        self.prefetch, self.num_threads = prefetch, num_threads

    def __len__(self) -> int:
        return batches_per_epoch(len(self.source), self.batch_size, drop_remainder=self.drop_remainder)

    def epoch(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yields inputs float32 (B, H, W, 3) and depths float32 (B, H, W) of epoch `epoch`."""
        batches = iterate_batches(
            self.source,
            self.batch_size,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=epoch,
            drop_remainder=self.drop_remainder,
            prefetch=self.prefetch,
            num_threads=self.num_threads,
        )
        with contextlib.closing(batches):
            for rgb, depth in batches:
                yield normalize_rgb(rgb, self.mean, self.std), depth


def open_depth_data(
    config: TrainConfig,
    data: str | os.PathLike | None,
    *,
    format: str = "auto",
    resolution: tuple[int, int] | None = None,
) -> tuple[DepthSource, DepthSource, dict[str, Any]]:
    """The training and validation sources of a run, and what identifies them.

    Synthetic rooms are rendered at `resolution` with `config.num_train`/`num_val` frames
    seeded by `config.seed`; NYU frames are resized to `resolution` on read.

    Args:
      config: the run's configuration.
      data: the NYU path (see `imexjax.data.nyu.load_nyu`); ignored for `format="synthetic"`.
      format: `auto`, `labeled_mat`, `fastdepth`, `tfds` or `synthetic`.
      resolution: `(height, width)`; None for the preset's (`NYU_RESOLUTIONS`, else 120 x 160).

    Returns:
      `(train, val, info)`, `info` holding `format` (resolved), `data` (absolute path or None),
      `resolution`, `num_train`, `num_val`, `train_source`, `val_source`.

    Raises:
      NyuDataError: the data is missing, not recognised or corrupt.
      ConfigError: unknown format or bad resolution.
    """
    _choice("format", format, ("auto", *FORMATS))
    height, width = resolution if resolution is not None else NYU_RESOLUTIONS.get(config.name, (120, 160))
    if height < 1 or width < 1:
        raise ConfigError(f"resolution must be two positive integers, got {resolution!r}")
    if format == "synthetic":
        train: DepthSource = SyntheticScenes(
            "train", num_frames=config.num_train, resolution=(height, width), seed=config.seed
        )
        val: DepthSource = SyntheticScenes(
            "val", num_frames=config.num_val, resolution=(height, width), seed=config.seed
        )
        path = None
    else:
        if data is None:
            raise NyuDataError("no --data given: " + missing_data_message("").split(": ", 1)[1])
        format = detect_format(data) if format == "auto" else format
        train = load_nyu(data, format=format, split="train", resolution=(height, width))
        val = load_nyu(data, format=format, split="val", resolution=(height, width))
        path = str(pathlib.Path(data).absolute())
    if len(train) == 0 or len(val) == 0:
        raise NyuDataError(f"{data}: the {'train' if len(train) == 0 else 'val'} split holds no frames")
    info = {
        "format": format,
        "data": path,
        "resolution": [height, width],
        "num_train": len(train),
        "num_val": len(val),
        "train_source": train.name,
        "val_source": val.name,
    }
    return train, val, info


def _check_data(workdir: pathlib.Path, info: dict[str, Any]) -> dict[str, Any] | None:
    """The saved `data.json` of `workdir` (None if there is none); ConfigError if it names other data."""
    path = workdir / "data.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read {path} ({error}); pass a new --workdir") from None
    differing = [k for k in _DATA_KEYS if saved.get(k) != info.get(k)]
    if differing:
        changes = ", ".join(f"{k}: {saved.get(k)!r} -> {info.get(k)!r}" for k in differing)
        raise ConfigError(f"workdir {workdir} holds a run on other data ({changes}); pass a new --workdir")
    return saved


def run_nyu(
    config: TrainConfig,
    workdir: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    format: str = "auto",
    resolution: tuple[int, int] | None = None,
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

    Writes, besides what `train_and_evaluate` writes (`config.json`, `history.jsonl`,
    `metrics.json`, `checkpoints/`): `data.json` (format, path, resolution, frame counts and
    the input statistics, reused on resume), `predictions.png` (RGB | ground truth |
    prediction), `errors.png` (relative error maps) and `history.png`.

    Args:
      config: the run's configuration (`NYU_PRESETS`).
      workdir: the run's folder (resumed if it holds checkpoints of the same config and data).
      data: the NYU path; None for synthetic rooms.
      format: `auto`, `labeled_mat`, `fastdepth`, `tfds` or `synthetic`.
      resolution: `(height, width)` of the frames; None for the preset's.
      progress: show progress bars.
      figure_frames: validation frames shown in `predictions.png` and `errors.png`.

    Returns:
      The run's metrics, history and best model.

    Raises:
      ConfigError: bad configuration, or `workdir` holds another run.
      NyuDataError: the data is missing, not recognised or corrupt.
      TrainingDivergedError: the loss became NaN or infinite.
    """
    workdir = pathlib.Path(workdir)
    check_workdir(config, workdir)
    train_source, val_source, info = open_depth_data(config, data, format=format, resolution=resolution)
    saved = _check_data(workdir, info)
    stats = {k: saved[k] for k in ("rgb_mean", "rgb_std", "log_depth_mean", "statistics_frames")} if saved else None
    stats = stats or input_statistics(train_source)
    task = DepthTask(stats["log_depth_mean"])
    train = DepthBatches(
        train_source,
        config.batch_size,
        mean=stats["rgb_mean"],
        std=stats["rgb_std"],
        shuffle=True,
        seed=config.seed,
        drop_remainder=True,
    )
    val = DepthBatches(
        val_source,
        config.batch_size,
        mean=stats["rgb_mean"],
        std=stats["rgb_std"],
        shuffle=False,
        drop_remainder=False,
    )
    info = {**info, **stats, "min_depth": task.min_depth, "max_depth": task.max_depth}
    if jax.process_index() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        _write_json(workdir / "data.json", info)
    run_info = {"task": "depth", **info, "loss_kind": "l1_log_depth"}
    result = train_and_evaluate(
        config,
        workdir,
        task=task,
        train_batches=train,
        val_batches=val,
        in_channels=3,
        run_info=run_info,
        progress=progress,
    )
    if jax.process_index() == 0:
        rgb, truth = _first_frames(val_source, figure_frames)
        prediction = predict_depth(result.model, task, rgb, stats["rgb_mean"], stats["rgb_std"])
        write_depth_figures(
            workdir,
            rgb,
            truth,
            {_label(result.metrics["integrator"]): prediction},
            {_label(config.integrator): result.history},
            title=_title(config.integrator, result.metrics),
        )
    return result


def _write_json(path: pathlib.Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _first_frames(source: DepthSource, n: int) -> tuple[np.ndarray, np.ndarray]:
    frames = [source[i] for i in range(min(n, len(source)))]
    return np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])


_LABELS = {"imex": "IMEX", "euler": "ResNet", "midpoint": "midpoint", "rk4": "RK4"}


def _label(integrator: str) -> str:
    return _LABELS.get(integrator, integrator)


def _title(integrator: str, metrics: dict[str, Any]) -> str:
    return (
        f"{_label(integrator)}: validation rmse {metrics['val_rmse']:.3f} m, abs_rel {metrics['val_abs_rel']:.3f}, "
        f"delta1 {metrics['val_delta1']:.3f}"
    )


def predict_depth(
    model: nnx.Module,
    task: DepthTask,
    rgb: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 8,
) -> np.ndarray:
    """Predicted depth (N, H, W) in metres of uint8 images (N, H, W, 3)."""

    @nnx.jit
    def depth(model, x):
        return task.depth(model(x))

    chunks = [
        np.asarray(depth(model, jnp.asarray(normalize_rgb(rgb[i : i + batch_size], mean, std))))
        for i in range(0, len(rgb), batch_size)
    ]
    return np.concatenate(chunks)


# Figures.


def _depth_colormap():
    return plt.get_cmap("plasma_r").with_extremes(bad="black")


def plot_depth_predictions(
    rgb: np.ndarray, truth: np.ndarray, predictions: dict[str, np.ndarray], path: str | os.PathLike, *, title: str = ""
) -> None:
    """One row per frame: RGB | ground truth | one column per prediction, on one depth scale per row.

    Args:
      rgb: uint8 (n, H, W, 3).
      truth: (n, H, W) metres, 0 = invalid (shown black).
      predictions: name -> (n, H, W) metres, e.g. {"IMEX": ..., "ResNet": ...}.
      path: the PNG to write.
      title: the figure's title.
    """
    n, cols = len(rgb), 2 + len(predictions)
    fig, axes = plt.subplots(n, cols, figsize=(2.6 * cols, 2.1 * n + 0.5), squeeze=False)
    cmap = _depth_colormap()
    for row in range(n):
        valid = truth[row] > 0
        low = float(truth[row][valid].min()) if valid.any() else 0.0
        high = float(truth[row][valid].max()) if valid.any() else 1.0
        axes[row, 0].imshow(rgb[row])
        shown = axes[row, 1].imshow(np.ma.masked_where(~valid, truth[row]), cmap=cmap, vmin=low, vmax=high)
        for col, depth in enumerate(predictions.values(), 2):
            axes[row, col].imshow(depth[row], cmap=cmap, vmin=low, vmax=high)
        fig.colorbar(shown, ax=axes[row, -1], fraction=0.046, pad=0.04, label="m")
        for col, name in enumerate(["RGB", "ground truth", *predictions]):
            if row == 0:
                axes[row, col].set_title(name)
            axes[row, col].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_depth_errors(
    rgb: np.ndarray, truth: np.ndarray, predictions: dict[str, np.ndarray], path: str | os.PathLike, *, title: str = ""
) -> None:
    """One row per frame: RGB | the relative error |d_pred - d_true| / d_true of each prediction.

    The colour scale runs from 0 to 0.5 (errors above 50% saturate); invalid pixels are grey.
    Each panel's title gives that frame's abs_rel.
    """
    n, cols = len(rgb), 1 + len(predictions)
    fig, axes = plt.subplots(n, cols, figsize=(2.6 * cols + 0.6, 2.1 * n + 0.5), squeeze=False)
    cmap = plt.get_cmap("magma").with_extremes(bad="0.6")
    for row in range(n):
        valid = truth[row] > 0
        axes[row, 0].imshow(rgb[row])
        axes[row, 0].set_title("RGB" if row == 0 else "")
        for col, (name, depth) in enumerate(predictions.items(), 1):
            error = np.abs(depth[row] - truth[row]) / np.where(valid, truth[row], 1.0)
            shown = axes[row, col].imshow(np.ma.masked_where(~valid, error), cmap=cmap, vmin=0, vmax=0.5)
            frame_rel = float(error[valid].mean()) if valid.any() else math.nan
            axes[row, col].set_title(f"{name}: abs_rel {frame_rel:.3f}", fontsize=9)
        for ax in axes[row]:
            ax.axis("off")
        fig.colorbar(shown, ax=axes[row, -1], fraction=0.046, pad=0.04, label="relative error")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_depth_history(runs: dict[str, list[dict[str, Any]]], path: str | os.PathLike) -> None:
    """Training and validation loss, validation RMSE and delta1, per epoch, for one or more runs."""
    fig, (loss_ax, rmse_ax, delta_ax) = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, history in runs.items():
        epochs = [r["epoch"] for r in history]
        line = loss_ax.plot(epochs, [r["train_loss"] for r in history], "--", label=f"{name} train")[0]
        colour = line.get_color()
        loss_ax.plot(epochs, [r["val_loss"] for r in history], "-", color=colour, label=f"{name} validation")
        rmse_ax.plot(epochs, [r["val_rmse"] for r in history], "-o", ms=3, color=colour, label=name)
        delta_ax.plot(epochs, [r["val_delta1"] for r in history], "-o", ms=3, color=colour, label=name)
    loss_ax.set(xlabel="epoch", ylabel="mean |log d - log d*|", title="loss (L1, log depth)")
    rmse_ax.set(xlabel="epoch", ylabel="m", title="validation RMSE")
    delta_ax.set(xlabel="epoch", ylim=(0, 1), title="validation delta1 (< 1.25)")
    for ax in (loss_ax, rmse_ax, delta_ax):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_depth_figures(
    out: str | os.PathLike,
    rgb: np.ndarray,
    truth: np.ndarray,
    predictions: dict[str, np.ndarray],
    histories: dict[str, list[dict[str, Any]]],
    *,
    title: str = "",
    prefix: str = "",
) -> list[pathlib.Path]:
    """`{prefix}predictions.png`, `{prefix}errors.png` and `{prefix}history.png` in `out`; returns their paths."""
    out = pathlib.Path(out)
    paths = [out / f"{prefix}{name}.png" for name in ("predictions", "errors", "history")]
    plot_depth_predictions(rgb, truth, predictions, paths[0], title=title)
    plot_depth_errors(rgb, truth, predictions, paths[1], title=title)
    plot_depth_history(histories, paths[2])
    return paths


# Finished runs.


@dataclasses.dataclass
class DepthRun:
    """A finished depth run read back from its workdir (see `load_depth_run`).

    Attributes:
      workdir: the run's folder.
      config: its configuration.
      metrics: `metrics.json`.
      history: `history.jsonl`, one dict per epoch.
      data: `data.json`: format, path, resolution, frame counts and input statistics.
      model: the network with the best checkpoint's parameters.
      task: the `DepthTask` it was trained with (its log-depth offset).
    """

    workdir: pathlib.Path
    config: TrainConfig
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    data: dict[str, Any]
    model: nnx.Module
    task: DepthTask

    @property
    def label(self) -> str:
        """`IMEX`, `ResNet`, `midpoint` or `RK4`."""
        return _label(self.config.integrator)


def load_depth_run(workdir: str | os.PathLike) -> DepthRun:
    """Reads a finished depth run: config, metrics, history, data description and best model.

    Raises:
      FileNotFoundError: `workdir` holds no finished depth run.
    """
    workdir = pathlib.Path(workdir)
    for required in ("config.json", "data.json", "metrics.json", "history.jsonl"):
        if not (workdir / required).is_file():
            raise FileNotFoundError(f"{workdir} holds no finished depth run ({required} is missing); train it first")
    config = TrainConfig.from_json(json.loads((workdir / "config.json").read_text()))
    metrics = json.loads((workdir / "metrics.json").read_text())
    data = json.loads((workdir / "data.json").read_text())
    history = [json.loads(line) for line in (workdir / "history.jsonl").read_text().splitlines() if line]
    task = DepthTask(data["log_depth_mean"], min_depth=data["min_depth"], max_depth=data["max_depth"])
    model = build_model(config, in_channels=3, num_outputs=task.num_outputs)
    model.eval()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    like = {"params": params, "rest": rest, "opt_state": make_optimizer(config, 1).init(params)}
    checkpoints = RunCheckpoints(workdir / "checkpoints")
    try:
        state, _ = checkpoints.restore(like, best=True)
    finally:
        checkpoints.close()
    return DepthRun(workdir, config, metrics, history, data, nnx.merge(graphdef, state["params"], state["rest"]), task)


def metrics_table(runs: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of validation metrics (best epoch), one row per `name -> metrics.json` entry."""
    lines = [
        "| network | parameters | rmse (m) | abs_rel | log10 | delta1 | delta2 | delta3 | loss | best epoch "
        "| seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_metrics_row(name, metrics) for name, metrics in runs.items()]
    return "\n".join(lines)


def _metrics_row(name: str, m: dict[str, Any]) -> str:
    cells = [
        name,
        f"{m['params']:,}",
        f"{m['val_rmse']:.3f}",
        f"{m['val_abs_rel']:.3f}",
        f"{m['val_log10']:.3f}",
        f"{m['val_delta1']:.3f}",
        f"{m['val_delta2']:.3f}",
        f"{m['val_delta3']:.3f}",
        f"{m['val_loss']:.4f}",
        f"{m['best_epoch']}/{m['epochs']}",
        f"{m['seconds']:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def compare_depth_runs(
    workdirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    num_frames: int = FIGURE_FRAMES,
    first_frame: int = 0,
) -> list[pathlib.Path]:
    """Puts finished runs side by side on the same validation frames (the slides' kitchen figure).

    Writes `comparison.png` (RGB | ground truth | one prediction per run, e.g. IMEX | ResNet),
    `comparison_errors.png` (relative error maps), `comparison_history.png` and
    `comparison.md` (the metrics table) to `out`.

    Args:
      workdirs: finished runs on the same data and resolution, e.g. (IMEX run, ResNet run).
      out: the folder to write to (created if missing).
      data: where the NYU data is now, if it moved since training; None to use the path in
        the runs' `data.json`.
      num_frames: validation frames shown.
      first_frame: the index of the first one.

    Returns:
      The paths written.

    Raises:
      FileNotFoundError: a workdir holds no finished depth run.
      ConfigError: the runs were trained on different data or resolutions.
      NyuDataError: the data cannot be opened.
    """
    if len(workdirs) < 2:
        raise ConfigError(f"compare needs at least two runs, got {len(workdirs)}")
    runs = [load_depth_run(w) for w in workdirs]
    reference = runs[0]
    for run in runs[1:]:
        differing = [k for k in _DATA_KEYS if run.data.get(k) != reference.data.get(k)]
        if run.data["format"] == "synthetic" and run.config.seed != reference.config.seed:
            differing.append("seed (synthetic rooms)")
        if differing:
            raise ConfigError(
                f"{run.workdir} and {reference.workdir} were trained on different data ({', '.join(differing)}); "
                "compare runs on the same data and resolution"
            )
    info = reference.data
    config = reference.config
    _, val, _ = open_depth_data(
        config, data if data is not None else info["data"], format=info["format"], resolution=tuple(info["resolution"])
    )
    stop = min(first_frame + num_frames, len(val))
    if not 0 <= first_frame < stop:
        raise ConfigError(f"first frame {first_frame} outside the {len(val)} validation frames")
    frames = [val[i] for i in range(first_frame, stop)]
    rgb, truth = np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])
    predictions: dict[str, np.ndarray] = {}
    for run in runs:
        name = run.label if run.label not in predictions else f"{run.label} ({run.workdir.name})"
        predictions[name] = predict_depth(run.model, run.task, rgb, run.data["rgb_mean"], run.data["rgb_std"])
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{info['format']} validation frames, {info['resolution'][0]}x{info['resolution'][1]}"
    histories = {name: run.history for name, run in zip(predictions, runs, strict=True)}
    paths = write_depth_figures(out, rgb, truth, predictions, histories, title=title, prefix="comparison_")
    named = out / "comparison.png"
    os.replace(paths[0], named)
    table = out / "comparison.md"
    table.write_text(metrics_table({name: run.metrics for name, run in zip(predictions, runs, strict=True)}) + "\n")
    return [named, *paths[1:], table]
