"""Whether a training run fits in the machine's memory: a lower bound of what a step needs."""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._machine import machine_memory
from .._validate import FieldsError
from ..models import parameter_lower_bound

if TYPE_CHECKING:
    from ._config import TrainConfig

OPTIMIZER_SLOTS: dict[str, int] = {"adam": 2, "sgd": 1}
"""Values each optimizer keeps per parameter (Adam's two moments, SGD's momentum)."""


def check_memory(
    config: "TrainConfig",
    image_size: tuple[int, int],
    in_channels: int,
    *,
    data: Mapping[str, tuple[int, tuple[str, ...]]] | None = None,
    image_field: str | None = None,
) -> None:
    """Raises FieldsError (a ConfigError), before anything is allocated, when `config` cannot train in memory.

    What a training step needs at least: the float32 parameters with their gradients and the
    optimizer's values, and the activations the backward pass keeps, one state of each step
    for a batch of `batch_size` images (each step's input, as with `remat`), in `dtype`; and
    the bytes of `data`. Their sum is a lower bound, so a run refused would not have fit; the
    budget is the machine's physical memory (no check where the system does not report it).
    The message ends with the fix for the largest need, naming the fields that shrink it
    (`FieldsError.fields`).

    Args:
      config: the run's configuration.
      image_size: `(height, width)` of the images trained on.
      in_channels: channels of the images.
      data: `{what: (bytes, fields)}` the run holds besides the network, e.g. the generated
        images, with the fields whose lowering shrinks it (`("num_train", "num_val")`).
      image_field: the field that sets the image size, if any (`resolution`), named in the fix.
    """
    memory = machine_memory()
    if memory is None:
        return
    height, width = image_size
    sizing = ("unet_levels", "unet_base_width") if config.network == "unet" else ("geometry",)
    parameters = _parameter_lower_bound(config, in_channels)
    needs = {
        **(data or {}),
        f"activations of a batch of {config.batch_size} at {height}x{width}": (
            config.batch_size
            * _activations_per_image(config, height, width)
            * (2 if config.dtype == "bfloat16" else 4),
            ("batch_size", *sizing, *((image_field,) if image_field else ())),
        ),
        f"{parameters:.3g} parameters with gradients and {config.optimizer} state": (
            4 * parameters * (2 + OPTIMIZER_SLOTS[config.optimizer]),
            sizing,
        ),
    }
    total = sum(size for size, _ in needs.values())
    if total > memory:
        largest = max(needs, key=lambda what: needs[what][0])
        parts = ", ".join(f"{what}: {_bytes(size)}" for what, (size, _) in needs.items())
        fields = needs[largest][1]
        raise FieldsError(
            f"this run needs at least {_bytes(total)} of memory ({parts}), more than this machine's "
            f"{_bytes(memory)}; {_fix(fields, image_field)}",
            fields=fields,
        )


def _fix(fields: tuple[str, ...], image_field: str | None) -> str:
    """`lower batch_size or the layers and widths of geometry, or a smaller resolution`."""
    image = f", or a smaller {image_field}" if image_field in fields else ""
    named = ["the layers and widths of geometry" if f == "geometry" else f for f in fields if f != image_field]
    return f"lower {' or '.join(named)}{image}"


def _parameter_lower_bound(config: "TrainConfig", in_channels: int) -> int:
    """The weights of the 3x3 convolutions of the network (no biases, norms, heads, implicit kernels)."""
    if config.network == "unet":
        return parameter_lower_bound("unet", levels=config.unet_levels, base_width=config.unet_base_width)
    return parameter_lower_bound(config.network, in_channels=in_channels, geometry=config.geometry)


def _activations_per_image(config: "TrainConfig", height: int, width: int) -> int:
    """The values one image's forward pass keeps for the backward pass: one state per layer at least."""
    if config.network == "unet":
        levels = [(2, config.unet_base_width * 2**level) for level in range(config.unet_levels)]
    else:
        levels = list(config.geometry)
    count = 0
    for level, (layers, channels) in enumerate(levels):
        shrink = 2**level if config.network != "timestepping" else 1  # level l runs at 1/2**l of the size
        count += layers * channels * max(height // shrink, 1) * max(width // shrink, 1)
    return count


def _bytes(size: float) -> str:
    """`size` bytes in the largest binary unit that leaves at least 1: `29.1 TiB`, `512 B`."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    power = 0
    while size >= 1024 and power < len(units) - 1:
        size, power = size / 1024, power + 1
    return f"{size:.3g} {units[power]}"
