"""Figures drawn without pyplot: no global backend is chosen, and matplotlib loads on first use."""

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure


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
