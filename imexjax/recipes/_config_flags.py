"""A flag for every config field, built from the fields' metadata (`imexjax._fields`)."""

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._fields import FLAG, FORMAT, HELP, METAVAR, PARSE, format_value
from ..train import TrainConfig
from ._cli import flag_names
from ._presets import preset_for


def add_config_flags(
    parser: argparse.ArgumentParser,
    presets: Mapping[tuple[str, str], TrainConfig],
    *,
    default: str,
    preset_help: str,
    required: tuple[str, ...] = (),
) -> None:
    """Adds `--config PRESET` and one flag per field of the presets' config class (but `name`).

    Each flag comes from its field's metadata (`add_field_flags`). Flags a user does not give
    stay None, and `config_from_args` keeps the preset's value for them;
    `check_network_flags` checks them against `--network` after parsing.

    Args:
      parser: the script's parser.
      presets: `(preset name, network) -> config`, all of one class (`presets_by_network`).
      default: the preset name used without `--config`.
      preset_help: what `--config` says about the presets.
      required: fields that must be given on the command line (time-stepping fields: unless
        `--network unet`, see `check_network_flags`).
    """
    config_type = type(presets[(default, "timestepping")])
    group = parser.add_argument_group(
        "configuration",
        "--config picks a preset and --network the kind of network; each flag below overrides one field",
    )
    names = tuple(dict.fromkeys(name for name, _ in presets))
    group.add_argument("--config", default=default, choices=names, help=f"{preset_help} (default {default})")
    fields = (f.name for f in dataclasses.fields(config_type) if f.name != "name")
    add_field_flags(group, presets, fields, default=default, required=required)


def add_field_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    presets: Mapping[tuple[str, str], TrainConfig],
    fields: Iterable[str],
    *,
    default: str = "small",
    required: tuple[str, ...] = (),
) -> None:
    """Adds the flag of each of `fields` of the presets' config class, as its metadata describes it.

    A field's flag is its name with dashes (`batch_size` -> `--batch-size`), after its short
    name where the metadata gives one (`--lr` beside `--learning-rate`); a bool field also
    takes `--no-NAME`. Its help is the metadata's help and the field's value in each preset
    that uses it; its value is read by the metadata's parser (syntax only: the config checks
    the value), else by the type of the preset's value.

    Args:
      parser: the parser or argument group the flags go in.
      presets: `(preset name, network) -> config`, all of one class.
      fields: the fields to add.
      default: the preset whose values give each flag's type.
      required: fields marked required in the help (`check_network_flags` enforces it).
    """
    preset = presets[(default, "timestepping")]
    config_fields = {f.name: f for f in dataclasses.fields(preset)}
    for name in fields:
        metadata = config_fields[name].metadata
        help_text = metadata.get(HELP, "").replace("%", "%%") + (
            " (required" + (", except with --network unet)" if name in preset.TIMESTEPPING_FIELDS else ")")
            if name in required
            else " (default timestepping)"
            if name == "network"
            else f" (preset: {_preset_values(presets, name)})"
        )
        dashed = f"--{name.replace('_', '-')}"
        flags = [f"--{metadata[FLAG]}", dashed] if metadata.get(FLAG) else [dashed]
        options: dict[str, Any] = dict(dest=name, help=help_text)
        value = getattr(preset, name)
        if isinstance(value, bool) and metadata.get(PARSE) is None:
            options.update(action=argparse.BooleanOptionalAction)
        else:
            options.update(type=_argparse_type(metadata.get(PARSE) or type(value)), metavar=metadata.get(METAVAR))
        parser.add_argument(*flags, **options)


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` as an argparse `type`: its ValueError's message becomes the usage error."""
    if parse in (int, float, str):
        return parse

    def parse_text(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse_text.__name__ = parse.__name__
    return parse_text


def _preset_values(presets: Mapping[tuple[str, str], TrainConfig], field: str) -> str:
    """A field's values in the presets that use it: `small 9x16, small/multilevel 3x8,...` (one value if all agree)."""
    values: dict[str, str] = {}
    for (name, network), preset in presets.items():
        value = getattr(preset, field)
        other_kinds = preset.TIMESTEPPING_FIELDS if network == "unet" else preset.UNET_FIELDS
        if field in other_kinds:  # a field another network kind uses
            continue
        key = name if network == "timestepping" else f"{name}/{network}"
        values[key] = format_field(preset, field, value)
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    shown: dict[str, str] = {}  # a network's value only where it differs from the time-stepping preset's
    for key, text in values.items():
        if "/" not in key or values.get(key.split("/")[0]) != text:
            shown[key] = text
    return ", ".join(f"{k} {v}" for k, v in shown.items())


def format_field(config: TrainConfig, field: str, value: Any) -> str:
    """A value of `config`'s `field` as its flag takes it (`((9, 16),)` -> `9x16`, `(1.0, 16.0)` -> `1:16`)."""
    metadata = next(f.metadata for f in dataclasses.fields(config) if f.name == field)
    return (metadata.get(FORMAT) or format_value)(value)


def check_network_flags(
    parser: argparse.ArgumentParser, args: argparse.Namespace, required: tuple[str, ...] = ()
) -> None:
    """Exits through `parser.error` when flags given do not fit `--network`.

    With `--network unet` the time-stepping flags (`TrainConfig.TIMESTEPPING_FIELDS`:
    `--integrator`, `--geometry`, `--h`...) are refused (the U-Net has no integrator); with the
    other networks the U-Net's (`--unet-levels`, `--unet-base-width`) are; the `required`
    time-stepping flags are required unless `--network unet`, the others always.
    """
    flags = flag_names(parser)
    network = getattr(args, "network", None) or "timestepping"
    stepping = [flags[f] for f in TrainConfig.TIMESTEPPING_FIELDS if getattr(args, f, None) is not None]
    if network == "unet" and stepping:
        parser.error(
            f"{', '.join(stepping)}: the time-stepping flags do not apply to --network unet (it has no "
            "integrator); leave them out"
        )
    unet = [flags[f] for f in TrainConfig.UNET_FIELDS if getattr(args, f, None) is not None]
    if network != "unet" and unet:
        parser.error(f"{', '.join(unet)} apply to --network unet only; leave them out")
    missing = [
        flags[f]
        for f in required
        if getattr(args, f, None) is None and not (network == "unet" and f in TrainConfig.TIMESTEPPING_FIELDS)
    ]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)} (--network unet takes none)")


def config_from_args(args: argparse.Namespace, presets: Mapping[tuple[str, str], TrainConfig]) -> TrainConfig:
    """The preset `(args.config, args.network)` with every config flag given on the command line applied.

    Raises:
      ConfigError: an unknown network, or a value out of range (`ConfigError.field` names the field).
    """
    preset = preset_for(presets, args.config, getattr(args, "network", None) or "timestepping")
    return preset.replace(
        **{f.name: getattr(args, f.name, None) for f in dataclasses.fields(preset) if f.name != "name"}
    )
