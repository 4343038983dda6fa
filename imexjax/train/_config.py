"""The configuration of a training run: the network, the optimizer and the loop, as data."""

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from .._errors import ArgumentError, ConfigError
from .._machine import machine_memory
from .._validate import check_choice, check_positive_integers
from ..models import (
    DTYPES,
    IMEX_FORMS,
    INTEGRATORS,
    NETWORKS,
    NORM_KINDS,
    check_network_options,
    network_label,
    network_slug,
    parameter_lower_bound,
)

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
OPTIMIZER_SLOTS: dict[str, int] = {"adam": 2, "sgd": 1}
"""Values each optimizer keeps per parameter (Adam's two moments, SGD's momentum)."""
SCHEDULES: tuple[str, ...] = ("cosine", "constant")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    r"""Everything that defines a training run, stored as `config.json` in its workdir.

    Experiments subclass it to add the fields of their data (`imexjax.recipes.QtipsConfig`,
    `DepthConfig`); every field is a command-line flag of the same name.

    The network kinds share the fields: `timestepping` and `multilevel` use the time-stepping
    fields (`TIMESTEPPING_FIELDS`) and leave `unet_levels` and `unet_base_width` None; `unet`
    needs those two and ignores the time-stepping fields (the scripts refuse their flags with
    `--network unet`). Every kind uses `norm` and `dtype`.

    Attributes:
      name: the preset this config came from (`tiny`, `small`, `paper`...).
      network: `timestepping` (blocks of integrator steps at full resolution, the IMEX network
        and its ResNet twin), `unet` (the U-Net: convolution pairs at halving resolutions; no
        integrator) or `multilevel` (a U-Net whose levels are blocks of integrator steps).
      geometry: blocks of `(layers, width)`; each block is an opening layer and
        `layers - 1` integrator steps. `timestepping` runs them one after the other at full
        resolution; `multilevel` runs block l at 1/2**l of the image's size (one block per
        level; see `imexjax.models.MultiLevelNet`).
      integrator: the time-stepping scheme of every block; `euler` is the ResNet.
      h: the step size of every block.
      norm: `channel` (per pixel over channels, no spatial pooling); `instance` and `group`
        pool over the image, which hands every pixel a summary of the whole image; `batch`
        pools over the image and the batch (running statistics at evaluation).
      symmetric: explicit layers $-K^\top \sigma(N(K Y))$.
      imex_form: `paper` (dY/dt = f split as f + LY and -LY) or `code` (dY/dt = f - LY).
      zero_mean: project the implicit kernels to zero mean.
      implicit_init_scale: standard deviation of the initial implicit kernel entries (sets the
        diffusion length), or a `(low, high)` pair spread geometrically over the channels.
      implicit_kernel_size: k of the implicit kernels.
      unroll: steps unrolled per scan iteration, >= 1.
      remat: rematerialize each step in the backward pass; None (`auto`): on for CPU, off elsewhere.
      dtype: `float32`, or `bfloat16` states and convolutions (parameters, normalization
        statistics, FFT solves and the head stay float32).
      epochs: passes over the training set.
      batch_size: images per training step.
      learning_rate: the optimizer's step size.
      optimizer: `adam` or `sgd` (with momentum 0.9).
      schedule: `cosine` (decay to 0 over the run's epochs) or `constant` learning rate.
      seed: seeds the parameters, the data order and generated data.
      unet_levels: the U-Net's resolutions (`--network unet` only; 4: the coarsest sees the
        image at 1/8 of its size).
      unet_base_width: the U-Net's width at full resolution, doubled at each coarser level
        (`--network unet` only).
      boundary: of the implicit steps: `periodic` (the FFT solve), `zero` (zero padding, solved
        by conjugate gradients; no exponential integrators) or `reflect` (mirrored edges, DCT,
        doubly symmetric kernels); one name, or one per block for `timestepping`.
    """

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "network": NETWORKS,
        "integrator": tuple(INTEGRATORS),
        "norm": NORM_KINDS,
        "imex_form": IMEX_FORMS,
        "optimizer": OPTIMIZERS,
        "schedule": SCHEDULES,
        "dtype": DTYPES,
    }
    """The allowed values of the fields that take a name."""

    TIMESTEPPING_FIELDS: ClassVar[tuple[str, ...]] = (
        "geometry",
        "integrator",
        "h",
        "symmetric",
        "imex_form",
        "zero_mean",
        "implicit_init_scale",
        "implicit_kernel_size",
        "unroll",
        "remat",
        "boundary",
    )
    """Fields of the time-stepping blocks: `unet` ignores them."""

    UNET_FIELDS: ClassVar[tuple[str, ...]] = ("unet_levels", "unet_base_width")
    """Fields of the U-Net: None for the other networks."""

    RESUMABLE: ClassVar[tuple[str, ...]] = ("epochs", "unroll", "remat")
    """Fields a run may change when it resumes: `epochs` extends a finished run; `unroll` and
    `remat` change how the steps are compiled, not what they compute."""

    name: str
    geometry: tuple[tuple[int, int], ...]
    integrator: str = "imex"
    h: float = 1.0
    norm: str = "channel"
    symmetric: bool = True
    imex_form: str = "paper"
    zero_mean: bool = True
    implicit_init_scale: float | tuple[float, float] = 1.0
    implicit_kernel_size: int = 3
    unroll: int = 1
    remat: bool | None = None
    dtype: str = "float32"
    epochs: int = 10
    batch_size: int = 8
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "cosine"
    seed: int = 0
    network: str = "timestepping"
    unet_levels: int | None = None
    unet_base_width: int | None = None
    boundary: str | tuple[str, ...] = "periodic"

    def __post_init__(self):
        object.__setattr__(self, "geometry", tuple(tuple(block) for block in self.geometry))
        if isinstance(self.implicit_init_scale, (list, tuple)):
            object.__setattr__(self, "implicit_init_scale", tuple(float(v) for v in self.implicit_init_scale))
        if isinstance(self.boundary, list):
            object.__setattr__(self, "boundary", tuple(self.boundary))
        self.validate()

    def validate(self) -> None:
        """Raises ConfigError naming the first field that is out of range.

        The network's fields are checked by the network's own check
        (`imexjax.models.check_network_options`), whose message this passes on with the field
        it is about (`ConfigError.field`); only the fields of training are checked here.
        """
        for field in ("network", "optimizer", "schedule"):
            check_choice(field, getattr(self, field), self.CHOICES[field])
        check_positive_integers(self, ("epochs", "batch_size"))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer from 0 to 2**32 - 1, got {self.seed!r}", field="seed")
        rate = self.learning_rate
        if isinstance(rate, bool) or not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise ConfigError(f"learning_rate must be a positive number, got {rate!r}", field="learning_rate")
        if self.network != "unet":
            for field in self.UNET_FIELDS:
                if getattr(self, field) is not None:
                    raise ConfigError(
                        f"{field} applies to the unet network only, not to {self.network}; leave it out",
                        field=field,
                    )
        try:
            check_network_options(self.network, **self.model_options())
        except ArgumentError as error:
            field = _UNET_ARGUMENTS.get(error.argument, error.argument) if self.network == "unet" else error.argument
            raise ConfigError(str(error), field=field) from None

    def check_memory(
        self,
        image_size: tuple[int, int],
        in_channels: int,
        *,
        data: Mapping[str, tuple[int, str]] | None = None,
        image_flag: str = "",
    ) -> None:
        """Raises ConfigError, before anything is allocated, when training cannot fit in the machine's memory.

        What a training step needs at least: the float32 parameters with their gradients and
        the optimizer's values, and the activations the backward pass keeps, one state of
        each step for a batch of `batch_size` images (each step's input, as with `remat`), in
        `dtype`; and the bytes of `data`. Their sum is a lower bound, so a run refused would
        not have fit; the budget is the machine's physical memory (no check where the system
        does not report it).

        Args:
          image_size: `(height, width)` of the images trained on.
          in_channels: channels of the images.
          data: `{what: (bytes, fix)}` the run holds besides the network, e.g. the generated
            images, with the flags that shrink it.
          image_flag: the flag that sets the image size, if any (`--resolution`), named in the fix.
        """
        memory = machine_memory()
        if memory is None:
            return
        height, width = image_size
        sizing = (
            "--unet-levels or --unet-base-width" if self.network == "unet" else "the layers and widths of --geometry"
        )
        image_fix = f", or a smaller {image_flag}" if image_flag else ""
        parameters = self._parameter_lower_bound(in_channels)
        needs = {
            **(data or {}),
            f"activations of a batch of {self.batch_size} at {height}x{width}": (
                self.batch_size * self._activations_per_image(height, width) * (2 if self.dtype == "bfloat16" else 4),
                f"lower --batch-size or {sizing}{image_fix}",
            ),
            f"{parameters:.3g} parameters with gradients and {self.optimizer} state": (
                4 * parameters * (2 + OPTIMIZER_SLOTS[self.optimizer]),
                f"lower {sizing}",
            ),
        }
        total = sum(size for size, _ in needs.values())
        if total > memory:
            largest = max(needs, key=lambda what: needs[what][0])
            parts = ", ".join(f"{what}: {_bytes(size)}" for what, (size, _) in needs.items())
            raise ConfigError(
                f"this run needs at least {_bytes(total)} of memory ({parts}), more than this machine's "
                f"{_bytes(memory)}; {needs[largest][1]}"
            )

    def _parameter_lower_bound(self, in_channels: int) -> int:
        """The weights of the 3x3 convolutions of the network (no biases, norms, heads, implicit kernels)."""
        if self.network == "unet":
            return parameter_lower_bound("unet", levels=self.unet_levels, base_width=self.unet_base_width)
        return parameter_lower_bound(self.network, in_channels=in_channels, geometry=self.geometry)

    def _activations_per_image(self, height: int, width: int) -> int:
        """The values one image's forward pass keeps for the backward pass: one state per layer at least."""
        if self.network == "unet":
            levels = [(2, self.unet_base_width * 2**level) for level in range(self.unet_levels)]
        else:
            levels = list(self.geometry)
        count = 0
        for level, (layers, channels) in enumerate(levels):
            shrink = 2**level if self.network != "timestepping" else 1  # level l runs at 1/2**l of the size
            count += layers * channels * max(height // shrink, 1) * max(width // shrink, 1)
        return count

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with `changes` applied (None values are ignored), validated."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments of the network (`TimeSteppingNet`, `UNet` or `MultiLevelNet`) beyond the channels."""
        if self.network == "unet":
            return {
                "levels": self.unet_levels,
                "base_width": self.unet_base_width,
                "norm": self.norm,
                "dtype": self.dtype,
            }
        names = ("geometry", "integrator", "h", "norm", "symmetric", "imex_form", "zero_mean")
        names += ("implicit_init_scale", "implicit_kernel_size", "unroll", "remat", "dtype", "boundary")
        return {name: getattr(self, name) for name in names}

    @property
    def label(self) -> str:
        """The network's name in tables and figures (`IMEX`, `ResNet`, `U-Net`, `multilevel IMEX`...)."""
        return network_label(self.network, self.integrator)

    @property
    def slug(self) -> str:
        """The network's name in folder names: `imex`, `euler`..., `unet`, `multilevel-imex`, `imex-reflect`..."""
        slug = network_slug(self.network, self.integrator)
        if self.network == "unet":
            return slug
        boundaries = self.boundary if isinstance(self.boundary, tuple) else (self.boundary,)
        return slug if boundaries == ("periodic",) else "-".join((slug, *boundaries))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; `from_json` of the same class inverts it."""
        return _json_lists(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        """Reads a dict written by `to_json`; fields it lacks take their defaults.

        Raises:
          ConfigError: `data` has fields this class does not know.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{cls.__name__} has no field {', '.join(unknown)}; the run was written by another config"
            )
        data = {k: v for k, v in data.items() if not (k == "unroll" and v is None)}  # None once meant the default
        return cls(**{**data, "geometry": tuple(tuple(block) for block in data["geometry"])})


_UNET_ARGUMENTS: dict[str, str] = {"levels": "unet_levels", "base_width": "unet_base_width"}
"""The fields of `TrainConfig` that hold the `UNet` arguments of other names."""


def _bytes(size: float) -> str:
    """`size` bytes in the largest binary unit that leaves at least 1: `29.1 TiB`, `512 B`."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    power = 0
    while size >= 1024 and power < len(units) - 1:
        size, power = size / 1024, power + 1
    return f"{size:.3g} {units[power]}"


def _json_lists(data: dict[str, Any]) -> dict[str, Any]:
    """Tuples (nested too) as lists, as JSON reads them back."""

    def convert(value):
        return [convert(v) for v in value] if isinstance(value, (tuple, list)) else value

    return {k: convert(v) for k, v in data.items()}
