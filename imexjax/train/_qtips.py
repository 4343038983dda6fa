"""A Q-tips segmentation run: data, normalization, training, figures."""

import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..data.qtips import CLASS_NAMES, NUM_CLASSES, qtips_splits, read_qtips_folder
from ._batches import InMemoryBatches
from ._checkpoints import RunCheckpoints
from ._config import TrainConfig
from ._loop import RunResult, build_model, make_optimizer, train_and_evaluate
from ._losses import class_weights_from_labels
from ._plots import plot_history, plot_predictions, plot_probability_maps
from ._segmentation import SegmentationTask

FIGURE_IMAGES = 6
"""Validation images shown in `predictions.png`."""


def load_qtips_data(
    config: TrainConfig, data_dir: str | pathlib.Path | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The Q-tips splits: read from `data_dir` (the authors' layout) or generated from `config.seed`.

    Returns:
      {"train": (images, labels), "val": (images, labels)}, uint8 arrays (N, H, W).

    Raises:
      QtipsDataError: `data_dir` is missing or malformed.
    """
    if data_dir is not None:
        return read_qtips_folder(data_dir)
    return qtips_splits(seed=config.seed, num_train=config.num_train, num_val=config.num_val)


def normalize_images(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 (N, H, W) images to float32 (N, H, W, 1), standardized by the training mean and std."""
    return ((images.astype(np.float32) - mean) / std)[..., None]


def run_qtips(
    config: TrainConfig,
    workdir: str | pathlib.Path,
    *,
    data_dir: str | pathlib.Path | None = None,
    progress: bool = True,
) -> RunResult:
    """Trains and evaluates a Q-tips segmentation network; writes metrics, checkpoints, figures.

    Inputs are standardized by the training set's mean and std; the cross entropy is weighted
    by `1 - class frequency` when `config.class_weighted`; validation uses the validation split.

    Args:
      config: the run's configuration.
      workdir: the run's folder (resumed if it holds checkpoints of the same config).
      data_dir: a folder in the authors' layout (`train/`, `val/`), or None to generate data.
      progress: show progress bars.

    Returns:
      The run's metrics, history and best model.
    """
    splits = load_qtips_data(config, data_dir)
    train_images, train_labels = splits["train"]
    val_images, val_labels = splits["val"]
    mean, std = float(train_images.mean()), float(train_images.std()) or 1.0
    weights = class_weights_from_labels(train_labels, NUM_CLASSES) if config.class_weighted else None
    task = SegmentationTask(NUM_CLASSES, weights)
    train = InMemoryBatches(
        normalize_images(train_images, mean, std),
        train_labels.astype(np.int32),
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        drop_remainder=True,
    )
    val = InMemoryBatches(
        normalize_images(val_images, mean, std),
        val_labels.astype(np.int32),
        config.batch_size,
        shuffle=False,
        drop_remainder=False,
    )
    run_info = {
        "task": "qtips",
        "data": str(pathlib.Path(data_dir).absolute()) if data_dir is not None else "generated",
        "num_train": len(train_images),
        "num_val": len(val_images),
        "input_mean": mean,
        "input_std": std,
        "class_weights": None if weights is None else weights.tolist(),
    }
    result = train_and_evaluate(
        config,
        workdir,
        task=task,
        train_batches=train,
        val_batches=val,
        in_channels=1,
        run_info=run_info,
        progress=progress,
    )
    if jax.process_index() == 0:
        write_qtips_figures(result, workdir, val_images, val_labels, mean, std)
    return result


def predict(model: nnx.Module, images: np.ndarray, mean: float, std: float, batch_size: int = 16) -> np.ndarray:
    """Class probabilities (N, H, W, K) of uint8 images (N, H, W)."""

    @nnx.jit
    def probabilities(model, x):
        return jax.nn.softmax(model(x), axis=-1)

    chunks = [
        np.asarray(probabilities(model, jnp.asarray(normalize_images(images[i : i + batch_size], mean, std))))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks)


def write_qtips_figures(
    result: RunResult, workdir: str | pathlib.Path, images: np.ndarray, labels: np.ndarray, mean: float, std: float
) -> None:
    """`predictions.png`, `probability_maps.png` and `history.png` in `workdir`."""
    workdir = pathlib.Path(workdir)
    shown = slice(0, FIGURE_IMAGES)
    probabilities = predict(result.model, images[shown], mean, std)
    name = result.metrics["integrator"]
    plot_predictions(
        images[shown],
        {"label": labels[shown], f"{name} prediction": probabilities.argmax(-1)},
        workdir / "predictions.png",
        title=f"{name}: validation IoU {result.metrics['val_iou']:.3f}",
    )
    plot_probability_maps(images[0], labels[0], probabilities[0], CLASS_NAMES, workdir / "probability_maps.png")
    plot_history({name: result.history}, workdir / "history.png")


def load_run(workdir: str | pathlib.Path) -> tuple[TrainConfig, dict[str, Any], list[dict[str, Any]], nnx.Module]:
    """Reads a finished Q-tips run: its config, metrics, history and best model.

    Raises:
      FileNotFoundError: `workdir` holds no finished run.
    """
    workdir = pathlib.Path(workdir)
    for required in ("config.json", "metrics.json", "history.jsonl"):
        if not (workdir / required).is_file():
            raise FileNotFoundError(f"{workdir} holds no finished run ({required} is missing); train it first")
    config = TrainConfig.from_json(json.loads((workdir / "config.json").read_text()))
    metrics = json.loads((workdir / "metrics.json").read_text())
    history = [json.loads(line) for line in (workdir / "history.jsonl").read_text().splitlines() if line]
    model = build_model(config, in_channels=1, num_outputs=NUM_CLASSES)
    model.eval()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    like = {"params": params, "rest": rest, "opt_state": make_optimizer(config, 1).init(params)}
    checkpoints = RunCheckpoints(workdir / "checkpoints")
    state, _ = checkpoints.restore(like, best=True)
    checkpoints.close()
    return config, metrics, history, nnx.merge(graphdef, state["params"], state["rest"])
