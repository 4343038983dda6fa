"""A network's size: its parameters counted by role, and the bound that they fit in the machine's memory."""

import math
from collections.abc import Sequence

from flax import nnx

from .._errors import ArgumentError
from .._machine import machine_memory


def parameter_lower_bound(
    network: str,
    *,
    in_channels: int = 1,
    geometry: Sequence[tuple[int, int]] = (),
    kernel_size: int = 3,
    levels: int = 0,
    base_width: int = 0,
) -> int:
    """A lower bound on a network's parameters: its k x k convolution kernels (no biases, norms, heads or implicit).

    Args:
      network: `timestepping` or `multilevel` (an opening layer and `layers - 1` steps per block
        of `geometry`), or `unet` (`levels` levels of widths `base_width * 2**level`; only the
        second convolution of each encoder level is counted).
      in_channels: channels of the images.
      geometry: `(layers, width)` per block (time-stepping networks).
      kernel_size: k of the explicit convolutions (time-stepping networks).
      levels: the U-Net's levels.
      base_width: the U-Net's width at full resolution.
    """
    # Python ints throughout: numpy integers would wrap around for the sizes this bound must refuse.
    if network == "unet":
        return sum(9 * (int(base_width) * 2**level) ** 2 for level in range(int(levels)))
    area, channels, count = int(kernel_size) ** 2, int(in_channels), 0
    for layers, width in geometry:
        layers, width = int(layers), int(width)
        count += area * channels * width + area * (layers - 1) * width**2  # the opening layer, then the steps
        channels = width
    return count


def check_parameter_count(network: str, parameters: int, fix: str, *, argument: str) -> None:
    """Raises ArgumentError, before anything is allocated, when `parameters` float32 values exceed the machine's memory.

    Args:
      network: the network and the arguments that size it, for the message, e.g. `UNet(levels=40, base_width=1)`.
      parameters: a lower bound on the network's parameter count.
      fix: what to change, for the message.
      argument: the argument the error is about.
    """
    memory = machine_memory()
    needed = 4 * parameters
    if memory is not None and needed > memory:
        raise ArgumentError(
            argument,
            f"{network} has at least {parameters:.3g} parameters, {needed / 2**30:.3g} GiB in float32, more than "
            f"this machine's {memory / 2**30:.3g} GiB of memory; {fix}",
        )


def count_parameters(model: nnx.Module) -> dict[str, int]:
    """Counts a network's parameters by role.

    Returns:
      A dict with `explicit` (k x k convolution kernels of the opening and step layers, no
      biases), `implicit` (ConvDiffusion kernels as stored: the free quarters with `zero` and `reflect`),
      `norm` (scales and shifts), `head` (the 1x1 convolution and its bias) and `total`.
    """
    counts = {"explicit": 0, "implicit": 0, "norm": 0, "head": 0}
    for path, value in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        names = [str(p) for p in path]
        size = math.prod(value.shape)
        if names[0] == "head":
            counts["head"] += size
        elif "implicit_kernels" in names:
            counts["implicit"] += size
        elif "norm" in names:
            counts["norm"] += size
        else:
            counts["explicit"] += size
    counts["total"] = sum(counts.values())
    return counts
