"""The configuration of a training run: the network, the optimizer and the loop, as data."""

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from .._errors import ArgumentError, ConfigError
from .._fields import (
    choices,
    described,
    format_blocks,
    format_names,
    format_scale,
    format_switch,
    parse_blocks,
    parse_names,
    parse_scale,
    parse_switch,
)
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
)
from ..operators import BOUNDARIES
from . import _memory

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULES: tuple[str, ...] = ("cosine", "constant")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    r"""Everything that defines a training run, stored as `config.json` in its workdir.

    Experiments subclass it to add the fields of their data (`imexjax.recipes.QtipsConfig`,
    `DepthConfig`). What each field means is its `help` metadata
    (`dataclasses.fields(TrainConfig)`), with the form its value takes as text
    (`imexjax._fields`): the experiment scripts make every field a flag from it.

    The network kinds share the fields: `timestepping` and `multilevel` use the time-stepping
    fields (`TIMESTEPPING_FIELDS`) and leave `unet_levels` and `unet_base_width` None; `unet`
    needs those two and ignores the time-stepping fields (the scripts refuse their flags with
    `--network unet`). Every kind uses `norm` and `dtype`.
    """

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "network": NETWORKS,
        "optimizer": OPTIMIZERS,
        "schedule": SCHEDULES,
    }
    """The allowed values of the fields that take a name and that `validate` checks itself (the
    network's names, such as `integrator` and `norm`, are the network's check)."""

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

    name: str = described("the preset this config came from (`tiny`, `small`, `paper`...)")
    geometry: tuple[tuple[int, int], ...] = described(
        """blocks of `(layers, width)`; each block is an opening layer and `layers - 1` integrator
        steps. `timestepping` runs them one after the other at full resolution; `multilevel` runs
        block l at 1/2**l of the image's size (one block per level; see
        `imexjax.models.MultiLevelNet`).""",
        metavar="LAYERSxWIDTH[,...]",
        parse=parse_blocks,
        format=format_blocks,
    )
    integrator: str = described(
        "the time-stepping scheme of every block; `euler` is the ResNet.",
        default="imex",
        metavar=choices(INTEGRATORS),
    )
    h: float = described("the step size of every block.", default=1.0)
    norm: str = described(
        """`channel` (per pixel over channels, no spatial pooling); `instance` and `group` pool over
        the image, which hands every pixel a summary of the whole image; `batch` pools over the
        image and the batch (running statistics at evaluation).""",
        default="channel",
        metavar=choices(NORM_KINDS),
    )
    symmetric: bool = described(r"explicit layers $-K^\top \sigma(N(K Y))$.", default=True)
    imex_form: str = described(
        "`paper` (dY/dt = f split as f + LY and -LY) or `code` (dY/dt = f - LY).",
        default="paper",
        metavar=choices(IMEX_FORMS),
    )
    zero_mean: bool = described("project the implicit kernels to zero mean.", default=True)
    implicit_init_scale: float | tuple[float, float] = described(
        """standard deviation of the initial implicit kernel entries (sets the diffusion length),
        or a `(low, high)` pair spread geometrically over the channels.""",
        default=1.0,
        flag="implicit-scale",
        metavar="SCALE|LOW:HIGH",
        parse=parse_scale,
        format=format_scale,
    )
    implicit_kernel_size: int = described("k of the implicit kernels.", default=3)
    unroll: int = described("steps unrolled per scan iteration, >= 1.", default=1)
    remat: bool | None = described(
        "rematerialize each step in the backward pass; `auto`: on for CPU, off elsewhere.",
        default=None,
        metavar="{on,off,auto}",
        parse=parse_switch,
        format=format_switch,
    )
    dtype: str = described(
        """`float32`, or `bfloat16` states and convolutions (parameters, normalization statistics,
        FFT solves and the head stay float32).""",
        default="float32",
        metavar=choices(DTYPES),
    )
    epochs: int = described("passes over the training set.", default=10)
    batch_size: int = described("images per training step.", default=8)
    learning_rate: float = described("the optimizer's step size.", default=1e-3, flag="lr")
    optimizer: str = described("`adam` or `sgd` (with momentum 0.9).", default="adam", metavar=choices(OPTIMIZERS))
    schedule: str = described(
        "`cosine` (decay to 0 over the run's epochs) or `constant` learning rate.",
        default="cosine",
        metavar=choices(SCHEDULES),
    )
    seed: int = described("seeds the parameters, the data order and generated data.", default=0)
    network: str = described(
        """`timestepping` (blocks of integrator steps at full resolution, the IMEX network and its
        ResNet twin), `unet` (the U-Net: convolution pairs at halving resolutions; no integrator)
        or `multilevel` (a U-Net whose levels are blocks of integrator steps).""",
        default="timestepping",
        metavar=choices(NETWORKS),
    )
    unet_levels: int | None = described(
        "the U-Net's resolutions (`unet` only; 4: the coarsest sees the image at 1/8 of its size).",
        default=None,
        parse=int,
    )
    unet_base_width: int | None = described(
        "the U-Net's width at full resolution, doubled at each coarser level (`unet` only).",
        default=None,
        parse=int,
    )
    boundary: str | tuple[str, ...] = described(
        """of the implicit steps: `periodic` (the FFT solve), `zero` (zero padding, sine
        transform) or `reflect` (mirrored edges, cosine transform); `zero` and `reflect` keep
        kernels symmetric under both flips. One name, or one per block for `timestepping`.""",
        default="periodic",
        metavar=choices(BOUNDARIES) + "[,...]",
        parse=parse_names,
        format=format_names,
    )

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
        for field, allowed in self.CHOICES.items():
            check_choice(field, getattr(self, field), allowed)
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
            message = re.sub(rf"^{error.argument}\b", field, str(error))  # "levels must ..." -> "unet_levels must ..."
            raise ConfigError(message, field=field) from None

    def check_memory(
        self,
        image_size: tuple[int, int],
        in_channels: int,
        *,
        data: Mapping[str, tuple[int, tuple[str, ...]]] | None = None,
        image_field: str | None = None,
    ) -> None:
        """Raises ConfigError, before anything is allocated, when training cannot fit in the machine's memory.

        What a training step needs at least: the float32 parameters with their gradients and
        the optimizer's values, and the activations the backward pass keeps (one state of each
        step for a batch, in `dtype`); and the bytes of `data`. Their sum is a lower bound, so
        a run refused would not have fit; the budget is the machine's physical memory (no check
        where the system does not report it). The message's fix names the fields that shrink
        the largest need; the error lists them (`fields`).

        Args:
          image_size: `(height, width)` of the images trained on.
          in_channels: channels of the images.
          data: `{what: (bytes, fields)}` the run holds besides the network, e.g. the generated
            images, with the fields whose lowering shrinks it (`("num_train", "num_val")`).
          image_field: the field that sets the image size, if any (`resolution`), named in the fix.
        """
        _memory.check_memory(self, image_size, in_channels, data=data, image_field=image_field)

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


def _json_lists(data: dict[str, Any]) -> dict[str, Any]:
    """Tuples (nested too) as lists, as JSON reads them back."""

    def convert(value):
        return [convert(v) for v in value] if isinstance(value, (tuple, list)) else value

    return {k: convert(v) for k, v in data.items()}
