"""Figures of a segmentation run: predictions, probability maps, loss curves, comparisons."""

import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._figures import new_figure, save_figure

LABEL_COLOURS: tuple[str, ...] = ("#202020", "#f0c419", "#3fa7d6", "#e4572e")
"""The colours of the Q-tips classes: background, white-white, white-black, black-black."""


def _label_colormap():
    from matplotlib.colors import ListedColormap

    return ListedColormap(LABEL_COLOURS)


def plot_predictions(
    images: np.ndarray,
    columns: dict[str, np.ndarray],
    path: str | pathlib.Path,
    *,
    title: str = "",
) -> None:
    """A grid with one row per image: the image, then one label map per column.

    Args:
      images: (n, H, W) grey images.
      columns: name -> (n, H, W) integer label maps, e.g. {"label": ..., "IMEX": ...}.
      path: the PNG to write.
      title: the figure's title.
    """
    n = len(images)
    width = 1 + len(columns)
    fig = new_figure(figsize=(2.2 * width, 2.2 * n))
    axes = fig.subplots(n, width, squeeze=False)
    cmap = _label_colormap()
    for row in range(n):
        axes[row, 0].imshow(images[row], cmap="gray", vmin=0, vmax=255)
        for col, maps in enumerate(columns.values(), 1):
            axes[row, col].imshow(maps[row], cmap=cmap, vmin=0, vmax=cmap.N - 1, interpolation="nearest")
        for col, name in enumerate(["image", *columns]):
            if row == 0:
                axes[row, col].set_title(name)
            axes[row, col].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def plot_probability_maps(
    image: np.ndarray,
    label: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    path: str | pathlib.Path,
) -> None:
    """The image, its label and the predicted probability of each class.

    Args:
      image: (H, W) grey image.
      label: (H, W) true classes.
      probabilities: (H, W, K) softmax outputs.
      class_names: K names.
      path: the PNG to write.
    """
    k = probabilities.shape[-1]
    fig = new_figure(figsize=(2.4 * (k + 2), 2.6))
    axes = fig.subplots(1, k + 2)
    cmap = _label_colormap()
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title("image")
    axes[1].imshow(label, cmap=cmap, vmin=0, vmax=cmap.N - 1, interpolation="nearest")
    axes[1].set_title("label")
    for c in range(k):
        shown = axes[c + 2].imshow(probabilities[..., c], cmap="viridis", vmin=0, vmax=1)
        axes[c + 2].set_title(f"P({class_names[c]})", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.colorbar(shown, ax=axes, shrink=0.8)
    save_figure(fig, path, dpi=80)


def plot_history(runs: dict[str, list[dict[str, Any]]], path: str | pathlib.Path) -> None:
    """Training and validation loss, and validation IoU, per epoch, for one or more runs.

    Args:
      runs: run name -> its history (dicts with `epoch`, `train_loss`, `val_loss`, `val_iou`).
      path: the PNG to write.
    """
    fig = new_figure(figsize=(10, 3.8))
    loss_ax, iou_ax = fig.subplots(1, 2)
    for name, history in runs.items():
        epochs = [r["epoch"] for r in history]
        line = loss_ax.plot(epochs, [r["train_loss"] for r in history], "--", label=f"{name} train")[0]
        loss_ax.plot(epochs, [r["val_loss"] for r in history], "-", color=line.get_color(), label=f"{name} validation")
        iou_ax.plot(epochs, [r.get("val_iou") for r in history], "-o", ms=3, color=line.get_color(), label=name)
    loss_ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    iou_ax.set(xlabel="epoch", ylabel="IoU (object classes)", ylim=(0, 1), title="validation IoU")
    loss_ax.legend(fontsize=8)
    iou_ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
