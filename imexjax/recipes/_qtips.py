"""A Q-tips segmentation run: data, normalization, loaders, training, figures."""

import os
import pathlib

import numpy as np

from .._validate import FieldsError
from ..data.qtips import (
    CLASS_NAMES,
    NUM_CLASSES,
    QTIPS_SIZE,
    generate_qtips,
    generated_bytes,
    qtips_splits,
    read_qtips_folder,
)
from ..models import network_label
from ..tasks import (
    SegmentationTask,
    class_weights_from_labels,
    plot_history,
    plot_predictions,
    plot_probability_maps,
    predict,
)
from ..train import ArraySource, FinishedRun, Loader, RunResult, fingerprint
from ._flow import Prepared, run_recipe
from ._qtips_config import QtipsConfig

FIGURE_IMAGES = 6
"""Validation images shown in `predictions.png`."""

SELECT_SPAWN_KEY = (2,)
"""The selection split is drawn from `np.random.SeedSequence(seed, spawn_key=SELECT_SPAWN_KEY)`,
the third child of the seed: the training and validation splits are the first two
(`imexjax.data.qtips.qtips_splits`), so the three streams are independent."""


def qtips_selection_split(seed: int, num_images: int, size: int = QTIPS_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The selection split of `seed`: `num_images` Q-tips images and labels, uint8 (N, size, size).

    Drawn from a stream independent of the training and validation splits of every seed
    (`SELECT_SPAWN_KEY`), for choosing hyperparameters without looking at the validation split.
    """
    return generate_qtips(num_images, seed=np.random.SeedSequence(seed, spawn_key=SELECT_SPAWN_KEY), size=size)


def load_qtips_data(
    config: QtipsConfig, data_dir: str | os.PathLike | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The Q-tips splits: read from `data_dir` (the authors' layout) or generated from `config.seed`.

    Returns:
      {"train": (images, labels), "val": (images, labels)}, uint8 arrays (N, H, W), H = W =
      `config.image_size` for generated data: `val` is the split the run evaluates on, the
      validation split, or with `config.eval_split == "select"` the selection split
      (`qtips_selection_split`, `config.num_val` images).

    Raises:
      QtipsDataError: `data_dir` is missing or malformed.
      ConfigError: a selection split or an image size other than `QTIPS_SIZE` asked of a
        folder, or more images to generate than fit in the machine's memory with the network's
        training (`TrainConfig.check_memory`).
    """
    size = config.image_size
    if data_dir is not None:
        if config.eval_split == "select":
            raise FieldsError(
                "eval_split select needs generated data (no data_dir): a folder holds no selection split",
                fields=("eval_split", "data_dir"),
            )
        if size != QTIPS_SIZE:
            raise FieldsError(
                f"image_size {size} applies to generated data only, not to a data_dir folder, whose images keep "
                "their own size: leave one of the two out",
                fields=("image_size", "data_dir"),
            )
        return read_qtips_folder(data_dir)
    count = config.num_train + config.num_val
    images = {f"{count} generated images": (generated_bytes(count, size), ("num_train", "num_val", "image_size"))}
    config.check_memory((size, size), 1, data=images, image_field="image_size")
    splits = qtips_splits(seed=config.seed, num_train=config.num_train, num_val=config.num_val, size=size)
    if config.eval_split == "select":
        splits["val"] = qtips_selection_split(config.seed, config.num_val, size)
    return splits


def normalize_images(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 (N, H, W) images to float32 (N, H, W, 1), standardized by the training mean and std."""
    return ((images.astype(np.float32) - mean) / std)[..., None]


def run_qtips(
    config: QtipsConfig,
    workdir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> RunResult:
    """Trains and evaluates a Q-tips segmentation network; writes metrics, checkpoints, figures.

    Data is generated at `config.image_size` unless `data_dir` is given; `data.json` and
    `metrics.json` record the images' `(height, width)` as `resolution`, as depth runs do.
    Inputs are standardized by the training set's mean and std; the cross entropy is weighted
    by `1 - class frequency` when `config.class_weighted`; validation uses the validation split
    (the selection split with `config.eval_split == "select"`).
    The config and the data are checked against `workdir` before anything is written, so a
    resumed run trains on the data it started on. Once the figures are written, their paths
    are printed on stderr in one line (`figures: W/predictions.png, ...`).

    Args:
      config: the run's configuration.
      workdir: the run's folder (resumed if it holds checkpoints of the same config and data).
      data_dir: a folder in the authors' layout (`train/`, `val/`), or None to generate data.
      progress: show progress bars.

    Returns:
      The run's metrics, history and best model.

    Raises:
      ConfigError: a bad config, an image size or selection split asked of `data_dir`, a run
        that cannot fit in the machine's memory, or `workdir` holds another run.
      QtipsDataError: `data_dir` is missing or malformed.
      TrainingDivergedError: the loss became NaN or infinite.
    """

    def open_data() -> tuple[dict, dict[str, tuple[np.ndarray, np.ndarray]]]:
        splits = load_qtips_data(config, data_dir)
        train_images, train_labels = splits["train"]
        val_images, val_labels = splits["val"]
        if data_dir is not None:  # generated data was checked before it was drawn
            config.check_memory(train_images.shape[1:], 1)
        identity = {
            "task": "qtips",
            "data": str(pathlib.Path(data_dir).absolute()) if data_dir is not None else "generated",
            "num_train": len(train_images),
            "num_val": len(val_images),
            "fingerprint": fingerprint(
                ArraySource(np.concatenate([train_images, val_images]), np.concatenate([train_labels, val_labels])),
                samples=None,
            ),
        }
        return identity, splits

    def prepare(splits: dict[str, tuple[np.ndarray, np.ndarray]], saved: dict | None) -> Prepared:
        train_images, train_labels = splits["train"]
        val_images, val_labels = splits["val"]
        mean, std = float(train_images.mean()), float(train_images.std()) or 1.0
        weights = class_weights_from_labels(train_labels, NUM_CLASSES) if config.class_weighted else None

        def standardize(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return normalize_images(images, mean, std), labels.astype(np.int32)

        loaders = {
            split: Loader(
                ArraySource(images, labels, name=f"the Q-tips {split} split"),
                config.batch_size,
                shuffle=split == "train",
                seed=config.seed,
                drop_remainder=split == "train",
                transform=standardize,
                num_threads=0,  # in memory already
            )
            for split, (images, labels) in splits.items()
        }
        return Prepared(
            task=SegmentationTask(NUM_CLASSES, weights),
            train_loader=loaders["train"],
            val_loader=loaders["val"],
            in_channels=1,
            data={
                "resolution": list(train_images.shape[1:]),
                "input_mean": mean,
                "input_std": std,
                "class_weights": None if weights is None else weights.tolist(),
            },
            figures=lambda result, folder: write_qtips_figures(result, folder, val_images, val_labels, mean, std),
        )

    return run_recipe(config, workdir, open_data=open_data, prepare=prepare, progress=progress)


def predict_qtips(run: FinishedRun | RunResult, images: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Class probabilities (N, H, W, K) of uint8 images (N, H, W) by a trained run's model."""
    return predict(run.model, SegmentationTask(NUM_CLASSES), normalize_images(images, mean, std))


def write_qtips_figures(
    result: RunResult, workdir: str | os.PathLike, images: np.ndarray, labels: np.ndarray, mean: float, std: float
) -> list[pathlib.Path]:
    """`predictions.png`, `probability_maps.png` and `history.png` in `workdir`; returns their paths."""
    workdir = pathlib.Path(workdir)
    paths = [workdir / f"{figure}.png" for figure in ("predictions", "probability_maps", "history")]
    shown = slice(0, FIGURE_IMAGES)
    probabilities = predict_qtips(result, images[shown], mean, std)
    name = network_label(result.metrics.get("network", "timestepping"), result.metrics["integrator"])
    plot_predictions(
        images[shown],
        {"label": labels[shown], f"{name} prediction": probabilities.argmax(-1)},
        paths[0],
        title=f"{name}: validation IoU {result.metrics['val_iou']:.3f}",
    )
    plot_probability_maps(images[0], labels[0], probabilities[0], CLASS_NAMES, paths[1])
    plot_history({name: result.history}, paths[2])
    return paths


def qtips_validation_images(run: FinishedRun) -> tuple[np.ndarray, np.ndarray]:
    """The validation images and labels (uint8 (N, H, W)) a finished Q-tips run was scored on."""
    data_dir = None if run.data["data"] == "generated" else run.data["data"]
    return load_qtips_data(run.config, data_dir)["val"]
