"""Figures of a depth run: predictions beside the ground truth, relative errors, loss curves."""

import math
import os
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

from .._figures import colormap, epoch_axis, fraction_axis, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _depth_colormap():
    return colormap("plasma_r").with_extremes(bad="black")


def plot_depth_predictions(
    rgb: np.ndarray, truth: np.ndarray, predictions: dict[str, np.ndarray], path: str | os.PathLike, *, title: str = ""
) -> "Figure":
    """One row per frame: RGB | ground truth | one column per prediction, on one depth scale per row.

    Each row's colour bar reads depth in metres; the scale is the row's ground-truth range, and
    predictions outside it saturate (the bar's arrows).

    Args:
      rgb: uint8 (n, H, W, 3).
      truth: (n, H, W) metres, 0 = invalid (shown black).
      predictions: name -> (n, H, W) metres, e.g. {"IMEX": ..., "ResNet": ...}.
      path: the PNG to write.
      title: the figure's title.

    Returns:
      The figure written.
    """
    n, cols = len(rgb), 2 + len(predictions)
    fig = new_figure(figsize=(2.6 * cols, 2.1 * n + 0.5))
    axes = fig.subplots(n, cols, squeeze=False)
    cmap = _depth_colormap()
    for row in range(n):
        valid = truth[row] > 0
        low = float(truth[row][valid].min()) if valid.any() else 0.0
        high = float(truth[row][valid].max()) if valid.any() else 1.0
        axes[row, 0].imshow(rgb[row])
        shown = axes[row, 1].imshow(np.ma.masked_where(~valid, truth[row]), cmap=cmap, vmin=low, vmax=high)
        for col, depth in enumerate(predictions.values(), 2):
            axes[row, col].imshow(depth[row], cmap=cmap, vmin=low, vmax=high)
        fig.colorbar(shown, ax=axes[row, -1], fraction=0.046, pad=0.04, label="depth (m)", extend="both")
        for col, name in enumerate(["RGB", "ground truth", *predictions]):
            if row == 0:
                axes[row, col].set_title(name)
            axes[row, col].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_depth_errors(
    rgb: np.ndarray, truth: np.ndarray, predictions: dict[str, np.ndarray], path: str | os.PathLike, *, title: str = ""
) -> "Figure":
    """One row per frame: RGB | the relative error |d_pred - d_true| / d_true of each prediction.

    The colour scale runs from 0 to 0.5 (errors above 50% saturate: the bar's arrow); invalid
    pixels are grey. Each panel's title gives that frame's abs_rel. Returns the figure written.
    """
    n, cols = len(rgb), 1 + len(predictions)
    fig = new_figure(figsize=(2.6 * cols + 0.6, 2.1 * n + 0.5))
    axes = fig.subplots(n, cols, squeeze=False)
    cmap = colormap("magma").with_extremes(bad="0.6")
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
        fig.colorbar(shown, ax=axes[row, -1], fraction=0.046, pad=0.04, label="|d - d*| / d*", extend="max")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_depth_history(runs: dict[str, list[dict[str, Any]]], path: str | os.PathLike) -> "Figure":
    """Training and validation loss, validation RMSE and delta1, per epoch, for one or more runs.

    Epoch ticks are whole numbers; the delta1 axis runs a little past 0 and 1 so a curve at 1.0
    shows. Returns the figure written.
    """
    fig = new_figure(figsize=(13, 3.8))
    loss_ax, rmse_ax, delta_ax = fig.subplots(1, 3)
    for name, history in runs.items():
        epochs = [r["epoch"] for r in history]
        line = loss_ax.plot(epochs, [r["train_loss"] for r in history], "--", label=f"{name} train")[0]
        colour = line.get_color()
        loss_ax.plot(epochs, [r["val_loss"] for r in history], "-", color=colour, label=f"{name} validation")
        rmse_ax.plot(epochs, [r["val_rmse"] for r in history], "-o", ms=3, color=colour, label=name)
        delta_ax.plot(epochs, [r["val_delta1"] for r in history], "-o", ms=3, color=colour, label=name)
    loss_ax.set(ylabel="mean |log d - log d*|", title="loss (L1, log depth)")
    rmse_ax.set(ylabel="RMSE (m)", title="validation RMSE")
    delta_ax.set(ylabel="fraction of pixels", title="validation delta1 (< 1.25)")
    fraction_axis(delta_ax)
    for ax in (loss_ax, rmse_ax, delta_ax):
        epoch_axis(ax)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


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
