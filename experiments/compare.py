"""Put finished Q-tips runs side by side: one figure of predictions, loss curves and a table.

The table gives each run's network (IMEX, ResNet, U-Net, multilevel IMEX...), parameters,
validation IoU, loss and accuracy, its receptive field: the share of input pixels whose
gradient reaches the centre output pixel (above 1e-3 of the largest, mean over 8 validation
images; `imexjax.analysis.receptive_field`), and the median seconds per training epoch.

    python experiments/compare.py runs/qtips-small-imex-s0 runs/qtips-small-unet-s0 --out runs/compare

Writes OUT/comparison.png (image | label | each run's prediction on the same validation
images), OUT/history.png (every run's loss and IoU curves) and OUT/comparison.md (the table,
also printed).
"""

import argparse
import pathlib
import statistics
import sys

import _interrupts  # noqa: F401  (before JAX: from here on Ctrl-C prints one line and exits 130)

from imexjax.analysis import receptive_field
from imexjax.recipes import (
    OneLineErrorParser,
    load_run,
    normalize_images,
    predict_qtips,
    qtips_validation_images,
    run_command,
)
from imexjax.tasks import plot_history, plot_predictions
from imexjax.train import ConfigError

SHOWN = 6
FIELD_IMAGES = 8


def compare(runs: list[str], out: pathlib.Path) -> int:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; pass a folder")
    loaded = [load_run(run, task="qtips") for run in runs]
    splits = {run.config.eval_split for run in loaded}
    if len(splits) > 1:
        raise ConfigError("the runs were scored on different splits (val and select); compare runs of one split")
    images, labels = qtips_validation_images(loaded[0])
    out.mkdir(parents=True, exist_ok=True)
    suffix = " select" if splits == {"select"} else ""
    names = [f"{r.config.label} {r.config.norm} s{r.config.seed}{suffix}" for r in loaded]
    columns = {"label": labels[:SHOWN]}
    for name, run in zip(names, loaded, strict=True):
        probabilities = predict_qtips(run, images[:SHOWN], run.data["input_mean"], run.data["input_std"])
        columns[name] = probabilities.argmax(-1)
    plot_predictions(images[:SHOWN], columns, out / "comparison.png", title="validation images")
    plot_history({name: run.history for name, run in zip(names, loaded, strict=True)}, out / "history.png")
    rows = [
        "| run (network, norm, seed) | parameters | IoU | loss | accuracy (%) | receptive field (%) | best epoch "
        "| s/epoch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in zip(names, loaded, strict=True):
        m = run.metrics
        inputs = normalize_images(images[:FIELD_IMAGES], run.data["input_mean"], run.data["input_std"])
        field = receptive_field(run.model, inputs).fraction
        rows.append(
            f"| {name} | {m['params']:,} | {m['val_iou']:.3f} | {m['val_loss']:.4f} | "
            f"{m['val_accuracy']:.2f} | {100 * field:.0f} | {m['best_epoch']} | {epoch_seconds(run.history):.1f} |"
        )
    table = "\n".join(rows)
    (out / "comparison.md").write_text(table + "\n")
    print(table)
    return 0


def epoch_seconds(history: list[dict]) -> float:
    """The median wall time of a run's epochs (training and validation); the first includes compilation."""
    return statistics.median(record["epoch_seconds"] for record in history)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="workdirs of finished runs of experiments/qtips.py")
    parser.add_argument("--out", required=True, help="folder for the figures and the table")
    args = parser.parse_args(argv)
    return run_command(lambda: compare(args.runs, pathlib.Path(args.out)), parser)


if __name__ == "__main__":
    sys.exit(main())
