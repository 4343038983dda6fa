"""Put finished Q-tips runs side by side: one figure of predictions, loss curves and a table.

The table gives each run's parameters, validation IoU, loss and accuracy, and
its receptive field: the share of input pixels whose gradient reaches the centre output pixel
(above 1e-3 of the largest, mean over 8 validation images; `imexjax.analysis.receptive_field`).

    python experiments/compare.py runs/qtips-small-imex-s0 runs/qtips-small-euler-s0 --out runs/compare

Writes OUT/comparison.png (image | label | each run's prediction on the same validation
images), OUT/history.png (every run's loss and IoU curves) and OUT/comparison.md (the table,
also printed).
"""

import argparse
import pathlib
import sys

import numpy as np

from imexjax.analysis import receptive_field
from imexjax.data.qtips import QtipsDataError
from imexjax.train import load_qtips_data, load_run, normalize_images, plot_history, plot_predictions, predict

SHOWN = 6
FIELD_IMAGES = 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="workdirs of finished runs of experiments/qtips.py")
    parser.add_argument("--out", required=True, help="folder for the figures and the table")
    args = parser.parse_args(argv)
    try:
        loaded = [load_run(run) for run in args.runs]
        first_config, first_metrics, _, _ = loaded[0]
        data_dir = None if first_metrics["data"] == "generated" else first_metrics["data"]
        images, labels = load_qtips_data(first_config, data_dir)["val"]
    except (FileNotFoundError, QtipsDataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{config.integrator} {config.norm} s{config.seed}" for config, *_ in loaded]
    columns = {"label": labels[:SHOWN]}
    for name, (_, metrics, _, model) in zip(names, loaded, strict=True):
        probabilities = predict(model, images[:SHOWN], metrics["input_mean"], metrics["input_std"])
        columns[name] = np.argmax(probabilities, axis=-1)
    plot_predictions(images[:SHOWN], columns, out / "comparison.png", title="validation images")
    plot_history({name: history for name, (_, _, history, _) in zip(names, loaded, strict=True)}, out / "history.png")
    rows = [
        "| run (integrator, norm, seed) | parameters | IoU | loss | accuracy (%) | receptive field (%) | best epoch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (_, m, _, model) in zip(names, loaded, strict=True):
        inputs = normalize_images(images[:FIELD_IMAGES], m["input_mean"], m["input_std"])
        field = receptive_field(model, inputs).fraction
        rows.append(
            f"| {name} | {m['params']:,} | {m['val_iou']:.3f} | {m['val_loss']:.4f} | "
            f"{m['val_accuracy']:.2f} | {100 * field:.0f} | {m['best_epoch']} |"
        )
    table = "\n".join(rows)
    (out / "comparison.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
