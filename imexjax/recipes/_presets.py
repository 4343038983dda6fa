"""Presets for every network kind: a time-stepping preset plus the fields each other kind sets."""

from collections.abc import Mapping
from typing import Any, TypeVar

from .._validate import check_choice
from ..models import NETWORKS
from ..train import TrainConfig

Config = TypeVar("Config", bound=TrainConfig)


def presets_by_network(
    presets: Mapping[str, Config], changes: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> dict[tuple[str, str], Config]:
    """Every preset on every network kind.

    Args:
      presets: the time-stepping presets by name (`tiny`, `small`...).
      changes: `changes[name][network]`: the fields that preset `name` sets for `network`
        beyond `network` itself (the U-Net's levels and base width, the multilevel geometry).

    Returns:
      `(name, network) -> preset`, for every name of `presets` and every kind in `NETWORKS`.
    """
    return {
        (name, network): preset.replace(network=network, **changes.get(name, {}).get(network, {}))
        for name, preset in presets.items()
        for network in NETWORKS
    }


def preset_for(presets: Mapping[tuple[str, str], Config], name: str, network: str = "timestepping") -> Config:
    """The preset `name` on `network`; raises ConfigError for an unknown name or network."""
    check_choice("config", name, tuple(dict.fromkeys(key for key, _ in presets)))
    check_choice("network", network, NETWORKS)
    return presets[(name, network)]
