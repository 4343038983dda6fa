"""Train IMEXnet or its ResNet twin to predict depth from one RGB image (NYU Depth V2).

    python experiments/nyu_depth.py --integrator imex --format synthetic            # no data needed
    python experiments/nyu_depth.py --integrator imex --data nyu_depth_v2_labeled.mat
    python experiments/nyu_depth.py --integrator euler --data ~/data/nyudepthv2     # FastDepth tree
    python experiments/nyu_depth.py --integrator imex --data ~/tensorflow_datasets  # prepared tfds
    python experiments/nyu_depth.py --compare runs/IMEX_RUN runs/RESNET_RUN --out figures/

--data takes nyu_depth_v2_labeled.mat (or its folder; splits.mat beside it gives the official
795/654 split), a FastDepth folder (train/<scene>/*.h5 and val/), or a tfds data_dir holding a
prepared nyu_depth_v2 (array_record). Rerunning a command with the same --workdir resumes it.
"""

import argparse
import sys

import jax

from imexjax.data.nyu import FORMATS, NyuDataError
from imexjax.models import INTEGRATORS
from imexjax.train import (
    NYU_PRESETS,
    NYU_RESOLUTIONS,
    ConfigError,
    TrainingDivergedError,
    add_cluster_flags,
    add_dtype_flag,
    add_norm_flag,
    compare_depth_runs,
    initialize_from_flags,
    metrics_table,
    nyu_config,
    parse_resolution,
    run_nyu,
)


def resolution(text: str) -> tuple[int, int]:
    """`HxW` (argparse type)."""
    try:
        return parse_resolution(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--integrator", choices=tuple(INTEGRATORS), help="euler is the ResNet (required to train)")
    parser.add_argument("--data", help="the NYU data (see above); not needed with --format synthetic")
    parser.add_argument(
        "--format",
        default="auto",
        choices=("auto", *FORMATS),
        help="auto detects labeled_mat, fastdepth or tfds from --data; synthetic renders rooms (no data)",
    )
    presets = ", ".join(f"{k} {h}x{w}" for k, (h, w) in NYU_RESOLUTIONS.items())
    parser.add_argument(
        "--config",
        default="small",
        choices=tuple(NYU_PRESETS),
        help="tiny: seconds; small: minutes on 2 CPU cores; paper: the authors' geometry, for a GPU "
        f"(default resolutions: {presets})",
    )
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument(
        "--resolution", type=resolution, metavar="HxW", help="frame size, e.g. 240x320 (default: the config's)"
    )
    parser.add_argument("--batch-size", type=int, help="override the config's batch size")
    parser.add_argument("--lr", type=float, help="override the config's learning rate")
    add_norm_flag(parser)
    add_dtype_flag(parser)
    parser.add_argument("--seed", type=int, help="seeds parameters, data order and synthetic rooms (default 0)")
    parser.add_argument(
        "--workdir", help="where metrics, checkpoints and figures go (default runs/nyu-FORMAT-CONFIG-INTEGRATOR-sSEED)"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("IMEX_WORKDIR", "RESNET_WORKDIR"),
        help="instead of training: put two finished runs side by side (RGB | ground truth | IMEX | ResNet) in --out",
    )
    parser.add_argument("--out", help="the folder --compare writes to")
    parser.add_argument("--frames", type=int, default=4, help="validation frames shown by --compare (default 4)")
    add_cluster_flags(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.compare is None and args.integrator is None:
        parser.error(
            "the following arguments are required: --integrator (or --compare IMEX_WORKDIR RESNET_WORKDIR --out DIR)"
        )
    if args.compare is not None and args.out is None:
        parser.error("--compare needs --out DIR")
    return args


def compare(args: argparse.Namespace) -> int:
    try:
        paths = compare_depth_runs(args.compare, args.out, data=args.data, num_frames=args.frames)
    except (ConfigError, NyuDataError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(paths[-1].read_text(), end="")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare is not None:
        return compare(args)
    initialize_from_flags(args)
    try:
        config = nyu_config(args.config).replace(
            integrator=args.integrator,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            seed=args.seed,
            norm=args.norm,
            dtype=args.dtype,
        )
        name = args.format if args.format != "auto" else "nyu"
        workdir = args.workdir or f"runs/nyu-{name}-{config.name}-{config.integrator}-s{config.seed}"
        data = None if args.format == "synthetic" else args.data
        result = run_nyu(
            config, workdir, data=data, format=args.format, resolution=args.resolution, progress=not args.no_progress
        )
    except (ConfigError, NyuDataError, TrainingDivergedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    if jax.process_index() != 0:
        return 0
    m = result.metrics
    height, width = m["resolution"]
    print(
        f"\ndepth, {m['format']} data at {height}x{width}, config {config.name}, best epoch {m['best_epoch']} "
        f"of {config.epochs}, {m['seconds']:.0f} s"
    )
    print(f"results in {workdir}")
    print(metrics_table({{"imex": "IMEX", "euler": "ResNet"}.get(config.integrator, config.integrator): m}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
