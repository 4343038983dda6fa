"""Train IMEXnet, its ResNet twin, a U-Net or a multilevel IMEX network to predict depth from one RGB
image (NYU Depth V2).

    python experiments/nyu_depth.py --integrator imex --format synthetic            # no data needed
    python experiments/nyu_depth.py --network unet --format synthetic               # the U-Net of the same size
    python experiments/nyu_depth.py --integrator imex --data nyu_depth_v2_labeled.mat
    python experiments/nyu_depth.py --integrator euler --data ~/data/nyudepthv2     # FastDepth tree
    python experiments/nyu_depth.py --integrator imex --data ~/tensorflow_datasets  # prepared tfds
    python experiments/nyu_depth.py --compare runs/IMEX_RUN runs/RESNET_RUN --out figures/

--data takes nyu_depth_v2_labeled.mat (or its folder; splits.mat beside it gives the official
795/654 split), a FastDepth folder (train/<scene>/*.h5 and val/), or a tfds data_dir holding a
prepared nyu_depth_v2 (array_record). Every field of the config is a flag (see below);
rerunning a command with the same --workdir resumes it.
"""

import argparse
import sys

import _interrupts  # noqa: F401  (before JAX: from here on Ctrl-C prints one line and exits 130)
import jax

from imexjax.data.nyu import FORMATS
from imexjax.recipes import (
    NYU_NETWORK_PRESETS,
    OneLineErrorParser,
    add_cluster_flags,
    add_compilation_cache_flags,
    add_config_flags,
    check_network_flags,
    compare_depth_runs,
    config_from_args,
    configure_cpu_from_flags,
    enable_cache_from_flags,
    initialize_from_flags,
    metrics_table,
    run_command,
    run_nyu,
)


def make_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="the NYU data (see above); not needed with --format synthetic")
    parser.add_argument(
        "--format",
        default="auto",
        choices=("auto", *FORMATS),
        help="auto detects labeled_mat, fastdepth or tfds from --data; synthetic renders rooms (no data)",
    )
    parser.add_argument(
        "--workdir",
        help="where metrics, checkpoints and figures go (default runs/nyu-FORMAT-CONFIG-NETWORK-sSEED, NETWORK the "
        "integrator, unet or multilevel-INTEGRATOR, then -BOUNDARY for a non-periodic boundary; -select added "
        "with --eval-split select)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("IMEX_WORKDIR", "RESNET_WORKDIR"),
        help="instead of training: put two finished runs side by side (RGB | ground truth | IMEX | ResNet) in --out",
    )
    parser.add_argument("--out", help="the folder --compare writes to")
    parser.add_argument("--frames", type=int, default=4, help="validation frames shown by --compare (default 4)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_flags(
        parser,
        NYU_NETWORK_PRESETS,
        default="small",
        preset_help="tiny: seconds; small: minutes on 2 CPU cores; paper: the authors' geometry, for a GPU",
        required=("integrator",),
    )
    add_cluster_flags(parser)
    add_compilation_cache_flags(parser)
    return parser


def parse_args(argv: list[str] | None = None, parser: OneLineErrorParser | None = None) -> argparse.Namespace:
    parser = parser or make_parser()
    args = parser.parse_args(argv)
    if args.compare is None:
        check_network_flags(parser, args, required=("integrator",))
    if args.compare is not None and args.out is None:
        parser.error("--compare needs --out DIR")
    return args


def compare(args: argparse.Namespace) -> int:
    paths = compare_depth_runs(args.compare, args.out, data=args.data, num_frames=args.frames)
    print(paths[-1].read_text(), end="")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def train(args: argparse.Namespace) -> int:
    enable_cache_from_flags(args)
    config = config_from_args(args, NYU_NETWORK_PRESETS)
    configure_cpu_from_flags(args, config)  # before JAX starts its backends
    initialize_from_flags(args)
    name = args.format if args.format != "auto" else "nyu"
    split = "-select" if config.eval_split == "select" else ""
    workdir = args.workdir or f"runs/nyu-{name}-{config.name}-{config.slug}-s{config.seed}{split}"
    data = None if args.format == "synthetic" else args.data
    m = run_nyu(config, workdir, data=data, format=args.format, progress=not args.no_progress).metrics
    if jax.process_index() == 0:
        height, width = m["resolution"]
        print(
            f"\ndepth, {m['format']} data at {height}x{width}, config {config.name}, best epoch {m['best_epoch']} "
            f"of {config.epochs}, {m['seconds']:.0f} s"
        )
        print(f"results in {workdir}")
        print(metrics_table({config.label: m}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parse_args(argv, parser)
    if args.compare is not None:
        return run_command(lambda: compare(args), parser)
    return run_command(lambda: train(args), parser)


if __name__ == "__main__":
    sys.exit(main())
