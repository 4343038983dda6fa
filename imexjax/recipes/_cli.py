"""What the experiment scripts share: a flag for every config field, cluster flags, one error exit."""

import argparse
import dataclasses
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from .._errors import ConfigError, UserError
from ..operators import BOUNDARIES
from ..train import (
    TrainConfig,
    check_batch_size,
    check_boundary_devices,
    enable_compilation_cache,
    initialize_distributed,
    route_cpu_convolutions,
    use_cpu_devices,
)

FLAG_ALIASES: dict[str, tuple[str, ...]] = {"learning_rate": ("--lr",), "implicit_init_scale": ("--implicit-scale",)}
"""Short flags kept beside a field's own flag (`--learning-rate` is also `--lr`)."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose usage errors are one line and exit status 1.

    A bad flag prints `error: MESSAGE; see SCRIPT --help` on stderr, without the usage, as every
    other error of the scripts does; `--help` prints the help and exits 0 as usual.
    """

    def error(self, message: str) -> NoReturn:
        """Prints `message` as one `error:` line and exits with status 1."""
        self.exit(1, f"error: {' '.join(message.split())}; see {self.prog} --help\n")


def parse_geometry(text: str) -> tuple[tuple[int, int], ...]:
    """`"9x16"` or `"4x64,4x128"` -> `((9, 16),)` / `((4, 64), (4, 128))`: blocks of LAYERSxWIDTH."""
    try:
        return tuple(_pair(block, "x", int) for block in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LAYERSxWIDTH[,LAYERSxWIDTH...], such as 9x16, got {text!r}"
        ) from None


def parse_resolution(text: str) -> tuple[int, int]:
    """`"48x64"` -> `(48, 64)`: HEIGHTxWIDTH, two positive integers."""
    try:
        height, width = _pair(text, "x", int)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, such as 48x64, got {text!r}") from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError(f"expected two positive integers, got {text!r}")
    return height, width


def parse_scale(text: str) -> float | tuple[float, float]:
    """`"8"` -> `8.0`, `"1:16"` -> `(1.0, 16.0)`: a positive number, or LOW:HIGH."""
    try:
        values = tuple(float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or LOW:HIGH, got {text!r}") from None
    if len(values) > 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number or LOW:HIGH, got {text!r}")
    return values[0] if len(values) == 1 else values


def parse_boundary(text: str) -> str | tuple[str, ...]:
    """`"zero"` -> `"zero"`, `"periodic,reflect"` -> `("periodic", "reflect")`: one name, or one per block."""
    names = tuple(name.strip() for name in text.split(","))
    unknown = [name for name in names if name not in BOUNDARIES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown boundary {unknown[0]!r}; choose from {', '.join(BOUNDARIES)}")
    return names[0] if len(names) == 1 else names


def _pair(text: str, separator: str, kind: type) -> tuple[Any, Any]:
    first, second = text.lower().split(separator)
    return kind(first), kind(second)


def _parse_remat(text: str) -> bool | None:
    choices = {"on": True, "off": False, "auto": None}
    if text not in choices:
        raise argparse.ArgumentTypeError(f"expected on, off or auto, got {text!r}")
    return choices[text]


def format_value(name: str, value: Any) -> str:
    """A field's value as its flag takes it (`((9, 16),)` -> `9x16`, `(1.0, 16.0)` -> `1:16`)."""
    if name == "geometry":
        return ",".join(f"{n}x{w}" for n, w in value)
    if name == "remat":
        return {True: "on", False: "off", None: "auto"}[value]
    if isinstance(value, tuple) and name == "boundary":
        return ",".join(value)
    if isinstance(value, tuple) and name == "implicit_init_scale":
        return ":".join(f"{v:g}" for v in value)
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def attribute_docs(config_type: type) -> dict[str, str]:
    """The `Attributes:` entries of the docstrings of `config_type` and its bases, by field name."""
    docs: dict[str, str] = {}
    for cls in reversed(config_type.__mro__):
        text = inspect.cleandoc(cls.__doc__ or "")
        section = text.split("Attributes:", 1)[1] if "Attributes:" in text else ""
        for name, body in re.findall(r"^  (\w+): (.*?)(?=^  \w+: |\Z)", section, flags=re.M | re.S):
            docs[name] = " ".join(body.split())
    return docs


def add_config_flags(
    parser: argparse.ArgumentParser,
    presets: Mapping[tuple[str, str], TrainConfig],
    *,
    default: str,
    preset_help: str,
    required: tuple[str, ...] = (),
) -> None:
    """Adds `--config PRESET` and one flag per field of the presets' config class (but `name`).

    A field's flag is its name with dashes (`batch_size` -> `--batch-size`, plus the aliases in
    `FLAG_ALIASES`); its help is the field's docstring entry and its value in each preset that
    uses it. Flags a user does not give stay None, and `config_from_args` keeps the preset's
    value for them; `check_network_flags` checks them against `--network` after parsing.

    Args:
      parser: the script's parser.
      presets: `(preset name, network) -> config`, all of one class (`presets_by_network`).
      default: the preset name used without `--config`.
      preset_help: what `--config` says about the presets.
      required: fields that must be given on the command line (time-stepping fields: unless
        `--network unet`, see `check_network_flags`).
    """
    config_type = type(presets[(default, "timestepping")])
    docs = attribute_docs(config_type)
    group = parser.add_argument_group(
        "configuration",
        "--config picks a preset and --network the kind of network; each flag below overrides one field",
    )
    names = tuple(dict.fromkeys(name for name, _ in presets))
    group.add_argument("--config", default=default, choices=names, help=f"{preset_help} (default {default})")
    for field in dataclasses.fields(config_type):
        if field.name == "name":
            continue
        help_text = docs.get(field.name, "").replace("%", "%%") + (
            " (required" + (", except with --network unet)" if field.name in config_type.TIMESTEPPING_FIELDS else ")")
            if field.name in required
            else " (default timestepping)"
            if field.name == "network"
            else f" (preset: {_preset_values(presets, field.name)})"
        )
        flags = [f"--{field.name.replace('_', '-')}", *FLAG_ALIASES.get(field.name, ())]
        options: dict[str, Any] = dict(dest=field.name, help=help_text)
        value = getattr(presets[(default, "timestepping")], field.name)
        if field.name in config_type.CHOICES:
            options.update(choices=config_type.CHOICES[field.name])
        elif field.name == "remat":
            options.update(type=_parse_remat, choices=(True, False, None), metavar="{on,off,auto}")
        elif field.name == "geometry":
            options.update(type=parse_geometry, metavar="LAYERSxWIDTH[,...]")
        elif field.name == "implicit_init_scale":
            options.update(type=parse_scale, metavar="SCALE|LOW:HIGH")
        elif field.name == "boundary":
            options.update(type=parse_boundary, metavar="{" + ",".join(BOUNDARIES) + "}[,...]")
        elif field.name == "resolution":
            options.update(type=parse_resolution, metavar="HxW")
        elif isinstance(value, bool):
            options.update(action=argparse.BooleanOptionalAction)
        elif value is None:  # a field of one network kind only (int | None)
            options.update(type=next(t for t in typing.get_args(field.type) if t is not type(None)))
        else:
            options.update(type=type(value))
        group.add_argument(*flags, **options)


def _preset_values(presets: Mapping[tuple[str, str], TrainConfig], field: str) -> str:
    """A field's values in the presets that use it: `small 9x16, small/multilevel 3x8,...` (one value if all agree)."""
    values: dict[str, str] = {}
    for (name, network), preset in presets.items():
        value = getattr(preset, field)
        other_kinds = preset.TIMESTEPPING_FIELDS if network == "unet" else preset.UNET_FIELDS
        if field in other_kinds:  # a field another network kind uses
            continue
        key = name if network == "timestepping" else f"{name}/{network}"
        values[key] = format_value(field, value)
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    shown: dict[str, str] = {}  # a network's value only where it differs from the time-stepping preset's
    for key, text in values.items():
        if "/" not in key or values.get(key.split("/")[0]) != text:
            shown[key] = text
    return ", ".join(f"{k} {v}" for k, v in shown.items())


def check_network_flags(
    parser: argparse.ArgumentParser, args: argparse.Namespace, required: tuple[str, ...] = ()
) -> None:
    """Exits through `parser.error` when flags given do not fit `--network`.

    With `--network unet` the time-stepping flags (`TrainConfig.TIMESTEPPING_FIELDS`:
    `--integrator`, `--geometry`, `--h`...) are refused (the U-Net has no integrator); with the
    other networks the U-Net's (`--unet-levels`, `--unet-base-width`) are; the `required`
    time-stepping flags are required unless `--network unet`, the others always.
    """
    network = getattr(args, "network", None) or "timestepping"
    stepping = _given(args, TrainConfig.TIMESTEPPING_FIELDS)
    if network == "unet" and stepping:
        parser.error(
            f"{', '.join(stepping)}: the time-stepping flags do not apply to --network unet (it has no "
            "integrator); leave them out"
        )
    unet = _given(args, TrainConfig.UNET_FIELDS)
    if network != "unet" and unet:
        parser.error(f"{', '.join(unet)} apply to --network unet only; leave them out")
    missing = [
        f"--{f.replace('_', '-')}"
        for f in required
        if getattr(args, f, None) is None and not (network == "unet" and f in TrainConfig.TIMESTEPPING_FIELDS)
    ]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)} (--network unet takes none)")


def _given(args: argparse.Namespace, fields: tuple[str, ...]) -> list[str]:
    """The flags of `fields` given on the command line."""
    return [f"--{f.replace('_', '-')}" for f in fields if getattr(args, f, None) is not None]


def config_from_args(args: argparse.Namespace, presets: Mapping[tuple[str, str], TrainConfig]) -> TrainConfig:
    """The preset `(args.config, args.network)` with every config flag given on the command line applied.

    Raises:
      ConfigError: a value is out of range (the message names its flag).
    """
    preset = presets[(args.config, getattr(args, "network", None) or "timestepping")]
    return preset.replace(
        **{f.name: getattr(args, f.name, None) for f in dataclasses.fields(preset) if f.name != "name"}
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
    2 where that is safe and measured faster, at least 2 cores, an even batch size and no
    `zero` boundary (its solve trains on one device), and not in a multi-process run
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
            f"--cpu-devices {count} does not fit this run (boundary zero trains on one device, and "
            "the batch size must divide over the devices); pass --cpu-devices 1"
        )
    count = use_cpu_devices(count)
    route_cpu_convolutions(_widest(config), count)
    return count


def _fits_devices(config: TrainConfig, count: int) -> bool:
    """Whether `config` trains on `count` devices (the engine's checks of its batch size and boundary)."""
    try:
        check_batch_size(config.batch_size, count)
        check_boundary_devices(config.boundary, count)
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


def run_command(command: Callable[[], int]) -> int:
    """Runs a script's `command`; a `UserError` or Ctrl-C becomes one line on stderr and an exit status.

    Returns:
      `command()`'s status; 1 after a `UserError` (its message printed as `error: ...`, no
      traceback); 130 after Ctrl-C (checkpoints already written stay, so rerunning resumes).
    """
    try:
        return command()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
