"""Command-line flags that both experiment scripts share."""

import argparse

from ..models import DTYPES, NORM_KINDS
from ._distributed import initialize_distributed

NORM_HELP = (
    "channel (default): per pixel over channels, no spatial pooling; instance and group pool over the "
    "image, which hands every pixel a summary of the whole image (a leak on Q-tips); batch pools over the "
    "image and the batch in training and uses running statistics at evaluation"
)


def add_norm_flag(parser: argparse.ArgumentParser) -> None:
    """Adds `--norm {channel,instance,group,batch}` (None: the config's)."""
    parser.add_argument("--norm", choices=NORM_KINDS, help=NORM_HELP)


def add_dtype_flag(parser: argparse.ArgumentParser) -> None:
    """Adds `--dtype {float32,bfloat16}` (None: the config's)."""
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        help="float32 (default), or bfloat16 states and convolutions with float32 parameters, "
        "statistics and FFT solves (mixed precision; benchmarks/README.md)",
    )


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """Adds `--distributed`, `--coordinator`, `--num-processes` and `--process-id`."""
    cluster = parser.add_argument_group("multi-host (jax.distributed); every local device is used without flags")
    cluster.add_argument(
        "--distributed",
        action="store_true",
        help="join a multi-process run detected by JAX (SLURM, Open MPI, TPU pods...)",
    )
    cluster.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0, for a run JAX cannot detect")
    cluster.add_argument("--num-processes", type=int, help="number of processes (with --coordinator)")
    cluster.add_argument("--process-id", type=int, help="this process's index (with --coordinator)")


def initialize_from_flags(args: argparse.Namespace) -> None:
    """Joins the multi-process run that `add_cluster_flags`' flags describe, if any."""
    if args.coordinator or args.distributed:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
