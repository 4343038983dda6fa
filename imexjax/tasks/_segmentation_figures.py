"""Figures of a segmentation run: predictions, probability maps, loss curves, comparisons."""

import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._figures import epoch_axis, fraction_axis, log_axis, new_figure, save_figure
from ..data.qtips import CLASS_NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LABEL_COLOURS: tuple[str, ...] = ("#202020", "#f0c419", "#3fa7d6", "#e4572e")
"""The colours of the Q-tips classes: background, white-white, white-black, black-black."""


def _label_colormap():
    from matplotlib.colors import ListedColormap

    return ListedColormap(LABEL_COLOURS)


_LEGEND_INCHES = 0.45
"""The height of the strip under a figure that holds its class legend."""


def _class_legend(fig: "Figure", class_names: Sequence[str], width_inches: float) -> None:
    """A legend under `fig`: one patch of each class's colour in `LABEL_COLOURS`, named by `class_names`."""
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=colour, edgecolor="0.5", label=name)
        for colour, name in zip(LABEL_COLOURS, class_names, strict=False)
    ]
    columns = len(handles) if width_inches >= 6 else 2
    fig.legend(handles=handles, loc="lower center", ncol=columns, fontsize=9, frameon=False)


def plot_predictions(
    images: np.ndarray,
    columns: dict[str, np.ndarray],
    path: str | pathlib.Path,
    *,
    title: str = "",
    class_names: Sequence[str] = CLASS_NAMES,
) -> "Figure":
    """A grid with one row per image: the image, then one label map per column; a class legend below.

    Args:
      images: (n, H, W) grey images.
      columns: name -> (n, H, W) integer label maps, e.g. {"label": ..., "IMEX": ...}.
      path: the PNG to write.
      title: the figure's title.
      class_names: the name of each class, in the legend beside its colour (the Q-tips classes).

    Returns:
      The figure written.
    """
    n = len(images)
    width = 1 + len(columns)
    size = (2.2 * width, 2.2 * n + _LEGEND_INCHES)
    fig = new_figure(figsize=size)
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
    _class_legend(fig, class_names, size[0])
    fig.tight_layout(rect=(0, _LEGEND_INCHES / size[1], 1, 1))
    save_figure(fig, path, dpi=80)
    return fig


def plot_probability_maps(
    image: np.ndarray,
    label: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    path: str | pathlib.Path,
) -> "Figure":
    """The image, its label and the predicted probability of each class; a class legend below.

    Args:
      image: (H, W) grey image.
      label: (H, W) true classes.
      probabilities: (H, W, K) softmax outputs.
      class_names: K names.
      path: the PNG to write.

    Returns:
      The figure written.
    """
    k = probabilities.shape[-1]
    size = (2.4 * (k + 2), 2.6 + _LEGEND_INCHES)
    fig = new_figure(figsize=size)
    fig.subplots_adjust(bottom=(_LEGEND_INCHES + 0.1) / size[1])
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
    fig.colorbar(shown, ax=axes, shrink=0.8, label="probability")
    _class_legend(fig, class_names, size[0])
    save_figure(fig, path, dpi=80)
    return fig


def plot_history(runs: dict[str, list[dict[str, Any]]], path: str | pathlib.Path) -> "Figure":
    """Training and validation loss, and validation IoU, per epoch, for one or more runs.

    Epoch ticks are whole numbers; the IoU axis runs a little past 0 and 1 so a curve at 1.0 shows.

    Args:
      runs: run name -> its history (dicts with `epoch`, `train_loss`, `val_loss`, `val_iou`).
      path: the PNG to write.

    Returns:
      The figure written.
    """
    fig = new_figure(figsize=(10, 3.8))
    loss_ax, iou_ax = fig.subplots(1, 2)
    for name, history in runs.items():
        epochs = [r["epoch"] for r in history]
        line = loss_ax.plot(epochs, [r["train_loss"] for r in history], "--", label=f"{name} train")[0]
        loss_ax.plot(epochs, [r["val_loss"] for r in history], "-", color=line.get_color(), label=f"{name} validation")
        iou_ax.plot(epochs, [r.get("val_iou") for r in history], "-o", ms=3, color=line.get_color(), label=name)
    loss_ax.set(ylabel="loss", title="loss")
    log_axis(loss_ax, [r[key] for history in runs.values() for r in history for key in ("train_loss", "val_loss")])
    iou_ax.set(ylabel="IoU (object classes)", title="validation IoU")
    fraction_axis(iou_ax)
    for ax in (loss_ax, iou_ax):
        epoch_axis(ax)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return fig
