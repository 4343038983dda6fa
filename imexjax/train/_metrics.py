"""What `metrics.json` records of a finished run: best and final validation metrics, sizes, config, environment."""

import platform
from typing import Any

import flax
import jax
import numpy as np
import optax
from flax import nnx

from ..models import count_parameters
from ._compilation_cache import compilation_cache_info
from ._config import TrainConfig


def final_metrics(
    config: TrainConfig,
    model: nnx.Module,
    best: dict[str, Any],
    history: list[dict[str, Any]],
    seconds: float,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The contents of `metrics.json`: the best epoch's validation metrics, the last epoch's, the config and more.

    Args:
      config: the run's configuration.
      model: the network (its parameters are counted).
      best: `epoch` and `val` (the validation metrics) of the best epoch.
      history: one record per epoch; the last one's `val_*` entries become `final`.
      seconds: the training time over every session of the run.
      data: the JSON-ready description of the data.
    """
    counts = count_parameters(model)
    return {
        **{f"val_{k}": v for k, v in best["val"].items()},
        "best_epoch": best["epoch"],
        "final": {k: v for k, v in history[-1].items() if k.startswith("val_")},
        "params": counts["total"],
        "param_counts": counts,
        "config": config.name,
        **{k: v for k, v in config.to_json().items() if k != "name"},
        "seconds": seconds,
        **environment_info(),
        **data,
    }


def environment_info() -> dict[str, Any]:
    """Versions, devices and the compilation cache (`compilation_cache_info`), for `metrics.json`."""
    devices = jax.devices()
    return {
        "devices": len(devices),
        "device_kind": devices[0].device_kind,
        "backend": jax.default_backend(),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "numpy": np.__version__,
        },
        "compilation_cache": compilation_cache_info(),
    }


def read_metrics(metrics: Any) -> Any:
    """The contents of a `metrics.json` (None if missing) in the keys `final_metrics` writes now.

    An older imexjax named the entries of `final` with `val_` twice (`val_val_loss`); they read
    as `val_loss`, ... again.
    """
    if not isinstance(metrics, dict) or not isinstance(metrics.get("final"), dict):
        return metrics
    return {**metrics, "final": {_single_val(key): value for key, value in metrics["final"].items()}}


def _single_val(key: str) -> str:
    """`key` with a doubled `val_val_` prefix written once."""
    return key.removeprefix("val_") if key.startswith("val_val_") else key
