"""Train IMEXnet, its ResNet twin, a U-Net or a multilevel IMEX network on Q-tips (segmentation that
needs a wide receptive field).

    python experiments/qtips.py --integrator imex                  # small config, generated data
    python experiments/qtips.py --integrator euler --config paper  # the authors' geometry
    python experiments/qtips.py --integrator imex --data-dir DIR   # the authors' PNG layout
    python experiments/qtips.py --network unet                     # the U-Net of the same size
    python experiments/qtips.py --network multilevel --integrator imex  # time-stepping at 4 resolutions
    python experiments/qtips.py --integrator imex --image-size 128  # generated images of 128x128

Every field of the config is a flag (see below); rerunning a command with the same --workdir
resumes it from its last checkpoint.
"""

import argparse
import sys

import _interrupts  # noqa: F401  (before JAX: from here on Ctrl-C prints one line and exits 130)
import jax

from imexjax.data.qtips import QTIPS_SIZE
from imexjax.recipes import (
    QTIPS_NETWORK_PRESETS,
    OneLineErrorParser,
    add_cluster_flags,
    add_compilation_cache_flags,
    add_config_flags,
    check_network_flags,
    config_from_args,
    configure_cpu_from_flags,
    enable_cache_from_flags,
    initialize_from_flags,
    run_command,
    run_qtips,
)


def make_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        help="train and validate on a folder in the authors' layout (train/ and val/, each with images/, "
        "labels/ and filenames.txt) instead of generated data",
    )
    parser.add_argument(
        "--workdir",
        help="where metrics, checkpoints and figures go (default runs/qtips-CONFIG-NETWORK-sSEED, NETWORK the "
        "integrator, unet or multilevel-INTEGRATOR, then -BOUNDARY for a non-periodic boundary; -SIZEpx added "
        "with an --image-size other than 64, -select with --eval-split select)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_flags(
        parser,
        QTIPS_NETWORK_PRESETS,
        default="small",
        preset_help="tiny: seconds; small: <= 15 min on 2 CPU cores; paper: the authors' network",
        required=("integrator",),
    )
    add_cluster_flags(parser)
    add_compilation_cache_flags(parser)
    return parser


def parse_args(argv: list[str] | None = None, parser: OneLineErrorParser | None = None) -> argparse.Namespace:
    parser = parser or make_parser()
    args = parser.parse_args(argv)
    check_network_flags(parser, args, required=("integrator",))
    return args


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parse_args(argv, parser)

    def train() -> int:
        enable_cache_from_flags(args)
        config = config_from_args(args, QTIPS_NETWORK_PRESETS)
        configure_cpu_from_flags(args, config)  # before JAX starts its backends
        initialize_from_flags(args)
        size = f"-{config.image_size}px" if config.image_size != QTIPS_SIZE else ""
        split = "-select" if config.eval_split == "select" else ""
        workdir = args.workdir or f"runs/qtips-{config.name}-{config.slug}-s{config.seed}{size}{split}"
        m = run_qtips(config, workdir, data_dir=args.data_dir, progress=not args.no_progress).metrics
        if jax.process_index() == 0:
            print(
                f"\nQ-tips, config {config.name}, {config.eval_split} split, "
                f"{m['resolution'][0]}x{m['resolution'][1]} images, best epoch {m['best_epoch']} "
                f"of {config.epochs}, {m['seconds']:.0f} s"
            )
            print(f"results in {workdir}")
            print("| network | parameters | IoU | loss | accuracy (%) |\n|---|---:|---:|---:|---:|")
            cells = (config.label, f"{m['params']:,}", f"{m['val_iou']:.3f}", f"{m['val_loss']:.4f}")
            print("| " + " | ".join(cells) + f" | {m['val_accuracy']:.2f} |")
        return 0

    return run_command(train, parser)


if __name__ == "__main__":
    sys.exit(main())
