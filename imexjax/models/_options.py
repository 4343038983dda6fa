"""The one check of every network option: the networks' constructors call these, and so do configs.

Each raises `imexjax._errors.ArgumentError` (a ValueError) whose `argument` is the option's name,
so that a layer holding the option under another name (a config field, a flag) translates the
message instead of checking the option again.
"""

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ArgumentError
from ..operators import check_boundary
from ..solvers import AbstractSolver, in_form, solver_from_name
from ._kinds import NETWORKS
from ._normalization import check_norm
from ._size import check_parameter_count, parameter_lower_bound

DTYPES: tuple[str, ...] = ("float32", "bfloat16")
"""The dtypes of a network's states and convolutions; parameters and FFT solves stay float32."""

SYMMETRIC_KERNEL_BOUNDARIES: tuple[str, ...] = ("zero", "reflect")
"""Boundaries whose network kernels are symmetric under both flips (`Block` stores their quarters)."""


def is_positive_int(value: Any) -> bool:
    """Whether `value` is an int (not a bool) >= 1."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def check_positive_int(argument: str, value: Any) -> None:
    """Raises ArgumentError unless `value` is an int >= 1."""
    if not is_positive_int(value):
        raise ArgumentError(argument, f"{argument} must be a positive integer, got {value!r}")


def check_dtype(dtype: Any) -> None:
    """Raises ArgumentError unless `dtype` is a name in `DTYPES`."""
    if dtype not in DTYPES:
        raise ArgumentError("dtype", f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")


def check_geometry(geometry: Any) -> tuple[tuple[int, int], ...]:
    """Returns `geometry` as a tuple of `(layers >= 1, width >= 1)` pairs; raises ArgumentError if it is not one."""
    try:
        blocks = tuple(tuple(block) for block in geometry)
    except TypeError:
        blocks = ()
    if not blocks or any(len(block) != 2 or not all(is_positive_int(v) for v in block) for block in blocks):
        raise ArgumentError(
            "geometry", f"geometry must be a non-empty list of (layers >= 1, width >= 1) integers, got {geometry}"
        )
    return tuple((int(layers), int(width)) for layers, width in blocks)


def check_odd_size(argument: str, value: Any) -> None:
    """Raises ArgumentError unless `value` is an odd int >= 1 (a kernel with a centre)."""
    if not is_positive_int(value) or value % 2 == 0:
        raise ArgumentError(argument, f"{argument} must be an odd positive integer, got {value!r}")


def check_implicit_init_scale(scale: Any) -> tuple[float, ...]:
    """Returns `scale` as a tuple of one or two floats; raises ArgumentError unless each is positive and finite.

    A zero scale gives kernels whose gradient is zero: they would never learn. Pure Python, so
    checking a config starts no JAX backend.
    """
    values = scale if isinstance(scale, (tuple, list)) else (scale,)
    if len(values) not in (1, 2) or not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        for v in values
    ):
        raise ArgumentError(
            "implicit_init_scale",
            f"implicit_init_scale must be a positive number or a (low, high) pair of them, got {scale!r}",
        )
    return tuple(float(v) for v in values)


def implicit_scales(scale: float | tuple[float, float], width: int) -> jax.Array:
    """Per-channel standard deviations (width,) of the initial implicit kernels (see `Block`).

    Raises:
      ArgumentError: `scale` is refused by `check_implicit_init_scale`.
    """
    values = check_implicit_init_scale(scale)
    if len(values) == 1:
        return jnp.full((width,), values[0], jnp.float32)
    low, high = values
    return jnp.geomspace(low, high, width, dtype=jnp.float32) if width > 1 else jnp.full((1,), low, jnp.float32)


def block_boundaries(boundary: str | Sequence[str], num_blocks: int, *, per_block: bool = True) -> tuple[str, ...]:
    """One boundary name per block from one name or (if `per_block`) a sequence of them.

    Raises:
      ArgumentError: a name is not in `imexjax.BOUNDARIES`, a sequence where only one name is
        taken, or a sequence whose length is not the number of blocks.
    """
    if isinstance(boundary, str):
        names = (boundary,) * num_blocks
    elif isinstance(boundary, (list, tuple)) and per_block:
        names = tuple(boundary)
        if len(names) != num_blocks:
            raise ArgumentError(
                "boundary", f"boundary must be one name or one per block ({num_blocks}), got {len(names)}: {boundary!r}"
            )
    else:
        takes = "a name or a list of names, one per block" if per_block else "one name for every level"
        raise ArgumentError("boundary", f"boundary must be {takes}, got {boundary!r}")
    for name in names:
        check_boundary(name)
    return names


def check_block_options(
    *,
    integrator: str = "imex",
    boundary: str = "periodic",
    imex_form: str = "paper",
    norm: str = "channel",
    h: Any = 1.0,
    kernel_size: Any = 3,
    implicit_kernel_size: Any = 3,
    implicit_init_scale: Any = 1.0,
    unroll: Any = 1,
    symmetric: Any = True,
    zero_mean: Any = True,
    remat: Any = None,
) -> AbstractSolver:
    """Checks the options of a `Block`; returns the solver that steps it (`imexjax.solvers.in_form`).

    `symmetric`, `zero_mean` and `remat` take any value (read as booleans); an option `Block`
    does not have is a TypeError, as it is for `Block`.

    Raises:
      ArgumentError: an unknown integrator, boundary, IMEX form or normalization; a boundary
        without the methods the integrator needs (`zero` has no exponential beyond 3x3); a step size that
        is not a positive finite number; kernel sizes that are not odd positive integers; an
        implicit scale that is not positive; `unroll` not a positive int or True.
    """
    del symmetric, zero_mean, remat
    solver = solver_from_name(integrator)
    check_odd_size("implicit_kernel_size", implicit_kernel_size)
    check_boundary(
        boundary,
        solver.linear_methods,
        symmetric=boundary in SYMMETRIC_KERNEL_BOUNDARIES,
        kernel_size=implicit_kernel_size,
    )
    check_norm(norm)
    real = isinstance(h, (int, float, np.integer, np.floating)) and not isinstance(h, bool)
    if not (real and math.isfinite(h) and h > 0):
        raise ArgumentError("h", f"h must be a positive finite step size, got {h!r}")
    check_odd_size("kernel_size", kernel_size)
    check_implicit_init_scale(implicit_init_scale)
    if unroll is not True and not is_positive_int(unroll):
        raise ArgumentError("unroll", f"unroll must be a positive integer or True, got {unroll!r}")
    return in_form(solver, imex_form)


def check_time_stepping_options(
    geometry: Any,
    *,
    per_block_boundaries: bool,
    in_channels: int | None = None,
    num_outputs: int | None = None,
    integrator: str = "imex",
    boundary: str | Sequence[str] = "periodic",
    dtype: str = "float32",
    **block_options: Any,
) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...]]:
    """Checks the options of a `TimeSteppingNet` or `MultiLevelNet`; returns the geometry and one boundary per block.

    Args:
      geometry: `(layers, width)` per block.
      per_block_boundaries: whether `boundary` may name one boundary per block.
      in_channels: channels of the images, if known (then the size is checked too).
      num_outputs: outputs per pixel, if known.
      integrator: the integrator of every block.
      boundary: one name, or (with `per_block_boundaries`) one per block.
      dtype: a name in `DTYPES`.
      **block_options: the options of every `Block` (see `check_block_options`).

    Raises:
      ArgumentError: as `check_block_options`, and for a bad geometry, dtype or channel count,
        or a network whose float32 parameters would exceed the machine's memory.
    """
    geometry = check_geometry(geometry)
    check_dtype(dtype)
    boundaries = block_boundaries(boundary, len(geometry), per_block=per_block_boundaries)
    for name in dict.fromkeys(boundaries):
        check_block_options(integrator=integrator, boundary=name, **block_options)
    for argument, value in (("in_channels", in_channels), ("num_outputs", num_outputs)):
        if value is not None:
            check_positive_int(argument, value)
    if in_channels is not None:
        check_parameter_count(
            f"the network of geometry {geometry}",
            parameter_lower_bound("timestepping", in_channels=in_channels, geometry=geometry, kernel_size=1),
            "use fewer or narrower layers",
            argument="geometry",
        )
    return geometry, boundaries


def check_unet_options(
    levels: Any,
    base_width: Any,
    *,
    in_channels: int | None = None,
    num_outputs: int | None = None,
    norm: str = "channel",
    dtype: str = "float32",
) -> None:
    """Checks the options of a `UNet`.

    Raises:
      ArgumentError: levels, base width or channels that are not positive integers, an
        unknown normalization or dtype, or a network that would not fit in memory.
    """
    for argument, value in (("levels", levels), ("base_width", base_width)):
        check_positive_int(argument, value)
    for argument, value in (("in_channels", in_channels), ("num_outputs", num_outputs)):
        if value is not None:
            check_positive_int(argument, value)
    check_dtype(dtype)
    check_norm(norm)
    widths = [int(base_width) * 2**level for level in range(levels)]
    check_parameter_count(
        f"UNet(levels={levels}, base_width={base_width})",
        parameter_lower_bound("unet", levels=levels, base_width=base_width),
        f"use fewer levels or a smaller base_width (the widths double per level, to {widths[-1]} here)",
        argument="levels",
    )


def check_network_options(network: str, **options: Any) -> None:
    """Checks the options of the network kind `network` (`NETWORKS`), as its constructor would.

    Args:
      network: `timestepping`, `unet` or `multilevel`.
      **options: the constructor's keyword arguments (`in_channels` and `num_outputs` may be left out).

    Raises:
      ArgumentError: the first option the constructor would refuse (`argument` names it).
    """
    if network == "unet":
        check_unet_options(**options)
    elif network in ("timestepping", "multilevel"):
        check_time_stepping_options(per_block_boundaries=network == "timestepping", **options)
    else:
        raise ArgumentError("network", f"unknown network {network!r}; choose one of {', '.join(NETWORKS)}")
