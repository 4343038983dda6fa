"""The figures of a run read on their own: class legend, whole-epoch ticks, headroom above 1.0,
colour bars with units, and the scripts name the figures they wrote."""

import numpy as np
import pytest
from helpers import load_script
from matplotlib.colors import to_hex

from imexjax._figures import FRACTION_LIMITS, figures_line
from imexjax.data.qtips import CLASS_NAMES
from imexjax.tasks import (
    LABEL_COLOURS,
    plot_depth_errors,
    plot_depth_history,
    plot_depth_predictions,
    plot_history,
    plot_predictions,
    plot_probability_maps,
)


def segmentation_history(epochs: int) -> list[dict]:
    """A history whose validation IoU climbs to exactly 1.0 (the curve the old axis clipped)."""
    iou = np.minimum(1.0, np.linspace(0.2, 1.2, epochs))
    return [
        {"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_iou": float(iou[e - 1])}
        for e in range(1, epochs + 1)
    ]


def depth_history(epochs: int) -> list[dict]:
    return [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "val_loss": 1.1 / e,
            "val_rmse": 2.0 / e,
            "val_delta1": min(1.0, 0.3 * e),
        }
        for e in range(1, epochs + 1)
    ]


def epoch_ticks(ax) -> np.ndarray:
    """The x ticks matplotlib draws on `ax` (inside its view limits)."""
    low, high = sorted(ax.get_xlim())
    ticks = np.asarray(ax.get_xticks())
    return ticks[(ticks >= low - 1e-9) & (ticks <= high + 1e-9)]


def assert_whole_epochs(ax) -> None:
    ticks = epoch_ticks(ax)
    assert len(ticks) >= 2 and np.all(ticks == np.round(ticks)), ticks
    labels = [label.get_text() for label in ax.get_xticklabels() if label.get_text()]
    assert all("." not in text for text in labels), labels
    assert ax.get_xlabel() == "epoch"


@pytest.mark.parametrize("epochs", [2, 10])
def test_segmentation_history_has_whole_epoch_ticks_and_room_above_an_iou_of_one(tmp_path, epochs):
    path = tmp_path / "history.png"
    fig = plot_history({"IMEX": segmentation_history(epochs), "ResNet": segmentation_history(epochs)}, path)
    assert path.stat().st_size > 0
    fig.canvas.draw()  # tick labels are set when drawn
    loss_ax, iou_ax = fig.axes[:2]
    for ax in (loss_ax, iou_ax):
        assert_whole_epochs(ax)
    low, high = iou_ax.get_ylim()
    assert high > 1.0 and low < 0.0 and (low, high) == FRACTION_LIMITS
    loss_labels = [t.get_text() for t in loss_ax.get_yticklabels(minor=True) + loss_ax.get_yticklabels()]
    shown = [text for text in loss_labels if text]
    if epochs == 2:  # losses within one decade (0.5 to 1.2): plain decimals, not 5 x 10^-1
        assert shown and all(float(text) > 0 for text in shown), shown
    else:  # over a decade: powers of ten only
        assert shown and all("10^" in text for text in shown), shown


@pytest.mark.parametrize("epochs", [2, 10])
def test_depth_history_has_whole_epoch_ticks_units_and_room_above_a_delta1_of_one(tmp_path, epochs):
    fig = plot_depth_history({"IMEX": depth_history(epochs)}, tmp_path / "history.png")
    fig.canvas.draw()
    loss_ax, rmse_ax, delta_ax = fig.axes[:3]
    for ax in (loss_ax, rmse_ax, delta_ax):
        assert_whole_epochs(ax)
    assert "(m)" in rmse_ax.get_ylabel()
    assert delta_ax.get_ylim()[1] > 1.0


def test_predictions_have_a_legend_naming_each_class_in_its_colour(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, 8, 8), dtype=np.uint8)
    labels = rng.integers(0, len(CLASS_NAMES), (2, 8, 8))
    fig = plot_predictions(images, {"label": labels, "IMEX": labels}, tmp_path / "predictions.png", title="t")
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == list(CLASS_NAMES)
    colours = [to_hex(patch.get_facecolor()) for patch in legend.get_patches()]
    assert colours == [to_hex(c) for c in LABEL_COLOURS]
    # the legend sits below the panels, not over them
    legend_top = legend.get_window_extent().y1
    assert all(ax.get_window_extent().y0 >= legend_top - 1 for ax in fig.axes)


def test_probability_maps_name_the_classes_and_the_colour_bar(tmp_path):
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(len(CLASS_NAMES)), (8, 8))
    label = rng.integers(0, len(CLASS_NAMES), (8, 8))
    image = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    fig = plot_probability_maps(image, label, probabilities, CLASS_NAMES, tmp_path / "probability_maps.png")
    (legend,) = fig.legends
    assert [text.get_text() for text in legend.get_texts()] == list(CLASS_NAMES)
    assert "probability" in [ax.get_ylabel() for ax in fig.axes]


def test_depth_colour_bars_read_in_metres_and_relative_error(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (2, 6, 8, 3), dtype=np.uint8)
    truth = rng.uniform(1.0, 5.0, (2, 6, 8))
    truth[0, 0, 0] = 0.0  # an invalid pixel
    predictions = {"IMEX": rng.uniform(1.0, 5.0, (2, 6, 8))}
    fig = plot_depth_predictions(rgb, truth, predictions, tmp_path / "predictions.png")
    bar_labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert bar_labels == ["depth (m)"] * 2  # one bar per frame
    fig = plot_depth_errors(rgb, truth, predictions, tmp_path / "errors.png")
    bar_labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert bar_labels == ["|d - d*| / d*"] * 2


def test_figures_line_is_one_line_of_paths(tmp_path):
    line = figures_line([tmp_path / "a.png", tmp_path / "b.png"])
    assert line == f"figures: {tmp_path / 'a.png'}, {tmp_path / 'b.png'}" and "\n" not in line


@pytest.mark.parametrize(
    ("script", "argv", "names"),
    [
        (
            "qtips.py",
            ["--integrator", "imex", "--config", "tiny", "--num-train", "8", "--num-val", "4"],
            ("predictions", "probability_maps", "history"),
        ),
        (
            "nyu_depth.py",
            ["--integrator", "imex", "--format", "synthetic", "--config", "tiny", "--num-train", "8", "--num-val", "4"],
            ("predictions", "errors", "history"),
        ),
    ],
)
def test_scripts_name_the_figures_they_wrote(tmp_path, capsys, script, argv, names):
    workdir = tmp_path / "run"
    status = load_script(f"experiments/{script}").main(
        [*argv, "--epochs", "1", "--workdir", str(workdir), "--no-progress"]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    paths = [workdir / f"{name}.png" for name in names]
    assert all(path.is_file() for path in paths)
    lines = [line for line in (out + err).splitlines() if line.startswith("figures: ")]
    assert lines == [figures_line(paths)]
