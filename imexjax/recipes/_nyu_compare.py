"""Finished depth runs side by side: the same validation frames, error maps, curves and a table."""

import os
import pathlib
from collections.abc import Sequence
from typing import Any

from .._errors import ConfigError
from ..data.nyu import DepthSource
from ..tasks import write_depth_figures
from ._load import load_run
from ._nyu import FIGURE_FRAMES, predict_depth
from ._nyu_data import first_frames, open_depth_data

_SHARED = ("task", "format", "resolution", "num_train", "num_val", "fingerprint")
"""The fields of `data.json` that runs compared side by side must share."""


def metrics_table(runs: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of validation metrics (best epoch), one row per `name -> metrics.json` entry."""
    lines = [
        "| network | parameters | rmse (m) | abs_rel | log10 | delta1 | delta2 | delta3 | loss | best epoch "
        "| seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in runs.items():
        cells = [name, f"{m['params']:,}"]
        cells += [f"{m[f'val_{k}']:.3f}" for k in ("rmse", "abs_rel", "log10", "delta1", "delta2", "delta3")]
        cells += [f"{m['val_loss']:.4f}", f"{m['best_epoch']}/{m['epochs']}", f"{m['seconds']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
      RunNotFoundError: a workdir holds no finished run.
      ConfigError: the runs are not depth runs on the same data and resolution.
      NyuDataError: the data cannot be opened.
    """
    if len(workdirs) < 2:
        raise ConfigError(f"compare needs at least two runs, got {len(workdirs)}")
    out = pathlib.Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out {out} is a file; pass a folder", field="out")
    runs = [load_run(w, task="depth") for w in workdirs]
    reference = runs[0]
    for run in runs:
        differing = [k for k in _SHARED if run.data.get(k) != reference.data.get(k)]
        if reference.data.get("task") != "depth" or differing:
            raise ConfigError(
                f"{run.workdir} and {reference.workdir} are not depth runs on the same data ({', '.join(differing)}); "
                "compare runs on the same data and resolution"
            )
    info = reference.data
    val: DepthSource = open_depth_data(
        reference.config, data if data is not None else info["data"], format=info["format"]
    )[1]
    if not 0 <= first_frame < len(val) or num_frames < 1:
        raise ConfigError(f"first frame {first_frame} outside the {len(val)} validation frames")
    rgb, truth = first_frames(val, num_frames, first_frame)
    predictions = {}
    for run in runs:
        label = run.config.label
        name = label if label not in predictions else f"{label} ({run.workdir.name})"
        predictions[name] = predict_depth(run, rgb)
    out.mkdir(parents=True, exist_ok=True)
    title = f"{info['format']} validation frames, {info['resolution'][0]}x{info['resolution'][1]}"
    histories = {name: run.history for name, run in zip(predictions, runs, strict=True)}
    paths = write_depth_figures(out, rgb, truth, predictions, histories, title=title, prefix="comparison_")
    named = out / "comparison.png"
    os.replace(paths[0], named)
    table = out / "comparison.md"
    table.write_text(metrics_table({name: run.metrics for name, run in zip(predictions, runs, strict=True)}) + "\n")
    return [named, *paths[1:], table]
