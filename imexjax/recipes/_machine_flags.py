"""The scripts' flags of the machine: the processes of a multi-host run, the CPU's devices, the compilation cache."""

import argparse
import os

from .._errors import ConfigError
from ..train import (
    TrainConfig,
    check_batch_size,
    enable_compilation_cache,
    initialize_distributed,
    route_cpu_convolutions,
    use_cpu_devices,
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
    cluster.add_argument(
        "--cpu-devices",
        type=_parse_cpu_devices,
        default="auto",
        metavar="{auto,N}",
        help="on a CPU, split it into N devices that train parts of each batch side by side (default auto: 2 "
        "where the machine has 2 cores or more, the batch size is even and no boundary is zero, else 1; "
        "an XLA_FLAGS that sets --xla_force_host_platform_device_count wins)",
    )


def _parse_cpu_devices(text: str) -> int | str:
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected auto or a positive integer, got {text!r}")
    return int(text)


def configure_cpu_from_flags(args: argparse.Namespace, config: TrainConfig) -> int:
    """Chooses XLA's CPU settings for `config` before JAX computes; returns the CPU devices in effect.

    Splits the CPU into `--cpu-devices` devices (`imexjax.train.use_cpu_devices`): `auto` takes
    2 where that is safe and measured faster, at least 2 cores and an even batch size, and not
    in a multi-process run
    (`--distributed`, `--coordinator`), whose devices the cluster decides. Then routes the
    convolutions for the network's widest layer and that many devices
    (`imexjax.train.route_cpu_convolutions`).
    """
    count = args.cpu_devices
    cluster = args.distributed or args.coordinator
    if cluster and count != "auto" and count > 1:
        raise ConfigError(
            f"--cpu-devices {count} does not apply to a multi-process run, whose devices the cluster "
            "decides; leave it out"
        )
    if count == "auto":
        count = 2 if not cluster and (os.cpu_count() or 1) >= 2 and _fits_devices(config, 2) else 1
    elif not _fits_devices(config, count):
        raise ConfigError(
            f"--cpu-devices {count} does not fit this run (the batch size must divide over the devices); "
            "pass --cpu-devices 1"
        )
    count = use_cpu_devices(count)
    route_cpu_convolutions(_widest(config), count)
    return count


def _fits_devices(config: TrainConfig, count: int) -> bool:
    """Whether `config` trains on `count` devices (the engine's check of its batch size)."""
    try:
        check_batch_size(config.batch_size, count)
    except ConfigError:
        return False
    return True


def _widest(config: TrainConfig) -> int:
    """The largest number of channels of `config`'s network."""
    if config.network == "unet":
        return config.unet_base_width * 2 ** (config.unet_levels - 1)
    return max(width for _, width in config.geometry)


def add_compilation_cache_flags(parser: argparse.ArgumentParser) -> None:
    """Adds `--compilation-cache-dir DIR` and `--no-compilation-cache` (see `enable_cache_from_flags`)."""
    section = parser.add_argument_group("start-up: compiled steps are kept on disk and reused by later runs")
    group = section.add_mutually_exclusive_group()
    group.add_argument(
        "--compilation-cache-dir",
        metavar="DIR",
        help="the folder of JAX's compilation cache (default $JAX_COMPILATION_CACHE_DIR, else "
        "$XDG_CACHE_HOME/imexjax/jax or ~/.cache/imexjax/jax)",
    )
    group.add_argument(
        "--no-compilation-cache", action="store_true", help="compile every step anew and keep nothing on disk"
    )


def enable_cache_from_flags(args: argparse.Namespace) -> None:
    """Turns on JAX's persistent compilation cache (`imexjax.train.enable_compilation_cache`) unless
    `--no-compilation-cache`, in `--compilation-cache-dir` if given.

    Raises:
      ConfigError: the folder cannot be created.
    """
    if args.no_compilation_cache:
        return
    try:
        enable_compilation_cache(args.compilation_cache_dir)
    except ConfigError as error:
        raise ConfigError(f"{error}; pass another --compilation-cache-dir or --no-compilation-cache") from None


def initialize_from_flags(args: argparse.Namespace) -> None:
    """Joins the multi-process run that `add_cluster_flags`' flags describe, if any.

    Raises:
      ConfigError: `--coordinator` without `--num-processes` and `--process-id`, these two
        without `--coordinator` or `--distributed`, or values JAX refuses
        (`imexjax.train.initialize_distributed`), such as `--distributed` where it detects no
        cluster.
    """
    if args.coordinator and (args.num_processes is None or args.process_id is None):
        raise ConfigError("--coordinator needs --num-processes N and --process-id I")
    if not (args.coordinator or args.distributed):
        if args.num_processes is not None or args.process_id is not None:
            raise ConfigError(
                "--num-processes and --process-id apply with --coordinator or --distributed; leave them out"
            )
        return
    try:
        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    except ConfigError as error:
        raise ConfigError(
            f"{error}; run under a cluster JAX detects (SLURM, Open MPI, TPU pods...) or pass --coordinator "
            "HOST:PORT, --num-processes N and --process-id I with 0 <= I < N"
        ) from None
