"""Train IMEXnet or its ResNet twin on Q-tips (segmentation that needs a wide receptive field).

    python experiments/qtips.py --integrator imex                  # small config, generated data
    python experiments/qtips.py --integrator euler --config paper  # the authors' geometry
    python experiments/qtips.py --integrator imex --data-dir DIR   # the authors' PNG layout

Every field of the config is a flag (see below); rerunning a command with the same --workdir
resumes it from its last checkpoint.
"""

import argparse
import sys

import jax

from imexjax.recipes import (
    QTIPS_PRESETS,
    add_cluster_flags,
    add_config_flags,
    config_from_args,
    initialize_from_flags,
    run_command,
    run_qtips,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        help="train and validate on a folder in the authors' layout (train/ and val/, each with images/, "
        "labels/ and filenames.txt) instead of generated data",
    )
    parser.add_argument(
        "--workdir", help="where metrics, checkpoints and figures go (default runs/qtips-CONFIG-INTEGRATOR-sSEED)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_flags(
        parser,
        QTIPS_PRESETS,
        default="small",
        preset_help="tiny: seconds; small: <= 15 min on 2 CPU cores; paper: the authors' network",
        required=("integrator",),
    )
    add_cluster_flags(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def train() -> int:
        initialize_from_flags(args)
        config = config_from_args(args, QTIPS_PRESETS)
        workdir = args.workdir or f"runs/qtips-{config.name}-{config.integrator}-s{config.seed}"
        m = run_qtips(config, workdir, data_dir=args.data_dir, progress=not args.no_progress).metrics
        if jax.process_index() == 0:
            print(
                f"\nQ-tips, config {config.name}, best epoch {m['best_epoch']} of {config.epochs}, {m['seconds']:.0f} s"
            )
            print(f"results in {workdir}")
            print("| network | parameters | IoU | loss | accuracy (%) |\n|---|---:|---:|---:|---:|")
            cells = (config.integrator, f"{m['params']:,}", f"{m['val_iou']:.3f}", f"{m['val_loss']:.4f}")
            print("| " + " | ".join(cells) + f" | {m['val_accuracy']:.2f} |")
        return 0

    return run_command(train)


if __name__ == "__main__":
    sys.exit(main())
