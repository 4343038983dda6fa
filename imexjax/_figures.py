"""Figures drawn without pyplot: no global backend is chosen, and matplotlib loads on first use."""

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

FRACTION_LIMITS = (-0.03, 1.03)
"""The y limits of an axis of fractions (IoU, delta1): a curve at 0 or 1 stays in view."""


def new_figure(**kwargs: Any) -> "Figure":
    """A `matplotlib.figure.Figure` that belongs to no pyplot window (keyword arguments as `Figure`'s).

    Drawing on it changes no global state (the user's backend stays as it is), and
    `figure.savefig(path)` writes PNG files with the Agg renderer whatever the backend.
    """
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def colormap(name: str) -> "Colormap":
    """matplotlib's registered colormap called `name` (e.g. `"viridis"`, `"plasma_r"`)."""
    import matplotlib

    return matplotlib.colormaps[name]


def save_figure(figure: "Figure", path: str | os.PathLike, *, dpi: int = 90) -> None:
    """Writes `figure` to `path` (the format from its suffix)."""
    figure.savefig(path, dpi=dpi)


def epoch_axis(ax: "Axes") -> None:
    """Labels `ax`'s x axis `epoch`, with ticks on whole epochs only (never 2.5)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def log_axis(ax: "Axes", values: list[float]) -> None:
    """Puts `ax`'s y axis on a log scale; within one decade of `values` its ticks read `0.12`, not `1.2 x 10^-1`."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_yscale("log")
    finite = [value for value in values if value is not None and value > 0]
    if finite and max(finite) < 10 * min(finite):
        plain = FuncFormatter(lambda value, _: f"{value:.3g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
    else:
        ax.yaxis.set_minor_formatter(NullFormatter())


def fraction_axis(ax: "Axes") -> None:
    """Shows 0..1 on `ax`'s y axis with headroom (`FRACTION_LIMITS`), so a curve at 1.0 is not clipped."""
    ax.set_ylim(*FRACTION_LIMITS)


def figures_line(paths: "Sequence[str | os.PathLike]") -> str:
    """The line a run prints once its figures are written: `figures: W/a.png, W/b.png`."""
    return "figures: " + ", ".join(str(path) for path in paths)
