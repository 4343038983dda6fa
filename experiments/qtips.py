"""Train IMEXnet or its ResNet twin on Q-tips (segmentation that needs a wide receptive field).

    python experiments/qtips.py --integrator imex                  # small config, generated data
    python experiments/qtips.py --integrator euler --config paper  # the authors' geometry
    python experiments/qtips.py --integrator imex --data-dir DIR   # the authors' PNG layout

Rerunning a command with the same --workdir resumes it from its last checkpoint.
"""

import argparse
import sys

import jax

from imexjax.data.qtips import QtipsDataError
from imexjax.models import IMEX_FORMS, INTEGRATORS
from imexjax.train import (
    QTIPS_PRESETS,
    ConfigError,
    TrainingDivergedError,
    add_cluster_flags,
    add_dtype_flag,
    add_norm_flag,
    initialize_from_flags,
    qtips_config,
    run_qtips,
)


def implicit_scale(text: str) -> float | tuple[float, float]:
    """`8` or `1:16` (argparse type)."""
    try:
        values = tuple(float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or LOW:HIGH, got {text!r}") from None
    if len(values) > 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or LOW:HIGH, got {text!r}")
    return values[0] if len(values) == 1 else values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--integrator", required=True, choices=tuple(INTEGRATORS), help="euler is the ResNet")
    parser.add_argument(
        "--config",
        default="small",
        choices=tuple(QTIPS_PRESETS),
        help="tiny: seconds; small: <= 15 min on 2 CPU cores; paper: the authors' network",
    )
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument("--batch-size", type=int, help="override the config's batch size")
    parser.add_argument("--lr", type=float, help="override the config's learning rate")
    parser.add_argument("--seed", type=int, help="seeds parameters, data order and generated data (default 0)")
    parser.add_argument("--h", type=float, help="override the step size")
    add_norm_flag(parser)
    add_dtype_flag(parser)
    parser.add_argument(
        "--imex-form", choices=IMEX_FORMS, help="paper: dY/dt = f; code: dY/dt = f - C^T C Y (the authors' code)"
    )
    parser.add_argument(
        "--implicit-scale",
        type=implicit_scale,
        help="standard deviation of the initial implicit kernel entries (sets the diffusion length), "
        "or LOW:HIGH to spread it geometrically over the channels",
    )
    parser.add_argument(
        "--data-dir",
        help="train and validate on a folder in the authors' layout (train/ and val/, each with images/, "
        "labels/ and filenames.txt) instead of generated data",
    )
    parser.add_argument(
        "--workdir", help="where metrics, checkpoints and figures go (default runs/qtips-CONFIG-INTEGRATOR-sSEED)"
    )
    add_cluster_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    initialize_from_flags(args)
    try:
        config = qtips_config(args.config).replace(
            integrator=args.integrator,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            seed=args.seed,
            h=args.h,
            norm=args.norm,
            dtype=args.dtype,
            imex_form=args.imex_form,
            implicit_init_scale=args.implicit_scale,
        )
        workdir = args.workdir or f"runs/qtips-{config.name}-{config.integrator}-s{config.seed}"
        result = run_qtips(config, workdir, data_dir=args.data_dir, progress=not args.no_progress)
    except (ConfigError, QtipsDataError, TrainingDivergedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    if jax.process_index() != 0:
        return 0
    m = result.metrics
    print(f"\nQ-tips, config {config.name}, best epoch {m['best_epoch']} of {config.epochs}, {m['seconds']:.0f} s")
    print(f"results in {workdir}")
    print("| network | parameters | IoU | loss | accuracy (%) |\n|---|---:|---:|---:|---:|")
    row = (
        config.integrator,
        f"{m['params']:,}",
        f"{m['val_iou']:.3f}",
        f"{m['val_loss']:.4f}",
        f"{m['val_accuracy']:.2f}",
    )
    print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
