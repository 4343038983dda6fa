"""XLA's CPU settings that the experiment scripts choose before JAX starts: devices and convolution kernels.

XLA reads `XLA_FLAGS` when JAX creates its backends, so these functions only take effect when
called before the first computation. They change the process's environment, so the library
never calls them on its own: the experiment scripts do. A flag that `XLA_FLAGS` already sets
is left as the user set it. Neither affects a GPU or TPU backend (both shape the host platform
only). The measurements behind them are in `benchmarks/cpu_levers.py`.
"""

import os

from .._errors import ConfigError

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
CONVOLUTION_ROUTING_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
EIGEN_CONVOLUTIONS = f"{CONVOLUTION_ROUTING_FLAG}=-individual_convolution"
"""Sends the convolutions that XLA gives YNNPACK (more than 16 channels) back to Eigen, whose
kernel gradient is faster on these shapes; results agree to a few units in the last place."""


def use_cpu_devices(count: int) -> int:
    """Makes XLA's CPU backend show `count` devices, so data parallelism runs parts of a batch side by side.

    The engine's data-parallel step then gives each device its rows of every batch: the FFTs,
    which XLA runs on one thread each, and the convolutions run at the same time. Appends
    `--xla_force_host_platform_device_count=count` to `XLA_FLAGS` unless it sets a count already.

    Args:
      count: devices, >= 1.

    Returns:
      The count in effect: `count`, or the one `XLA_FLAGS` already set.

    Raises:
      ConfigError: `XLA_FLAGS` sets a count that is not a positive integer.
    """
    flags = os.environ.get("XLA_FLAGS", "").split()
    for flag in flags:
        if flag.startswith(DEVICE_COUNT_FLAG + "="):
            value = flag.split("=", 1)[1]
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(f"XLA_FLAGS sets {flag}, not a positive count; correct or remove it")
            return int(value)
    if count > 1:
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"{DEVICE_COUNT_FLAG}={count}"])
    return count


def route_cpu_convolutions(widest: int, devices: int) -> bool:
    """Sends XLA's CPU convolutions to Eigen where that measured faster; returns whether they go there.

    Measured on 2 cores (training step, batch 8, 64x64): at width 16 the routing changes
    nothing (XLA leaves convolutions of <= 16 channels to Eigen anyway); on one device Eigen is
    0.61-0.67x YNNPACK's step at width 32 and 0.48x at 64; on two devices, 1.10x at width 32
    and 0.84x at 64. So: on one device from width 24 on, on several from width 48 on.

    Args:
      widest: the network's largest number of channels.
      devices: the CPU devices it trains on.
    """
    flags = os.environ.get("XLA_FLAGS", "").split()
    if any(flag.startswith(CONVOLUTION_ROUTING_FLAG + "=") for flag in flags):
        return EIGEN_CONVOLUTIONS in flags
    if widest < (24 if devices == 1 else 48):
        return False
    os.environ["XLA_FLAGS"] = " ".join([*flags, EIGEN_CONVOLUTIONS])
    return True
