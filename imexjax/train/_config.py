"""Training configurations as data, and the Q-tips presets."""

import dataclasses
import math
from typing import Any

from ..models import DTYPES, IMEX_FORMS, INTEGRATORS, NORM_KINDS

OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULES: tuple[str, ...] = ("cosine", "constant")


class ConfigError(ValueError):
    """A configuration value is out of range; the message names it and what is allowed."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run, stored as `config.json` in its workdir.

    Attributes:
      name: the preset this config came from (`tiny`, `small`, `paper`...).
      geometry: blocks of `(layers, width)`; each block is an opening layer and
        `layers - 1` integrator steps (see `imexjax.models.TimeSteppingNet`).
      integrator: `euler` (the ResNet), `midpoint`, `rk4` or `imex`.
      h: the step size of every block.
      norm: `channel` (per pixel, no spatial pooling), `instance` or `group` (pool over the image),
        or `batch` (pools over the image and the batch; running statistics at evaluation).
      symmetric: explicit layers `-K^T sigma(N(K Y))`.
      imex_form: `paper` (dY/dt = f split as f + LY and -LY) or `code` (dY/dt = f - LY).
      zero_mean: project the implicit kernels to zero mean.
      implicit_init_scale: standard deviation of the initial implicit kernel entries, or a
        `(low, high)` pair spread geometrically over the channels.
      implicit_kernel_size: k of the implicit kernels.
      unroll: steps unrolled per scan iteration, >= 1.
      remat: rematerialize each step in the backward pass; None: on for CPU (see `Block`).
      dtype: `float32`, or `bfloat16` for bfloat16 states and convolutions (parameters,
        normalization statistics, FFT solves and the head stay float32).
      epochs: passes over the training set.
      batch_size: images per training step.
      learning_rate: the optimizer's step size.
      optimizer: `adam` or `sgd` (with momentum 0.9).
      schedule: `cosine` (decay to 0 over the run's epochs) or `constant` learning rate.
      seed: seeds the parameters, the data order and generated data.
      num_train: training images to generate (generated data only).
      num_val: validation images to generate (generated data only).
      class_weighted: weight the cross entropy by `1 - class frequency` (the authors' choice).
    """

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
    num_train: int = 1024
    num_val: int = 64
    class_weighted: bool = True

    def __post_init__(self):
        object.__setattr__(self, "geometry", tuple((int(n), int(w)) for n, w in self.geometry))
        if isinstance(self.implicit_init_scale, (list, tuple)):
            object.__setattr__(self, "implicit_init_scale", tuple(float(v) for v in self.implicit_init_scale))
        self.validate()

    def validate(self) -> None:
        """Raises ConfigError naming the first field that is out of range."""
        _choice("integrator", self.integrator, tuple(INTEGRATORS))
        _choice("norm", self.norm, NORM_KINDS)
        _choice("imex_form", self.imex_form, IMEX_FORMS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("dtype", self.dtype, DTYPES)
        for field in ("epochs", "batch_size", "num_train", "num_val", "unroll"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{field.replace('_', '-')} must be a positive integer, got {value!r}")
        for field in ("h", "learning_rate"):
            value = getattr(self, field)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{field.replace('_', '-')} must be a positive number, got {value!r}")
        if not self.geometry or any(n < 1 or w < 1 for n, w in self.geometry):
            raise ConfigError(f"geometry must list (layers >= 1, width >= 1) blocks, got {self.geometry}")

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with `changes` applied (None values are ignored), validated."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments of `TimeSteppingNet` beyond the input and output channels."""
        return dict(
            geometry=self.geometry,
            integrator=self.integrator,
            h=self.h,
            norm=self.norm,
            symmetric=self.symmetric,
            imex_form=self.imex_form,
            zero_mean=self.zero_mean,
            implicit_init_scale=self.implicit_init_scale,
            implicit_kernel_size=self.implicit_kernel_size,
            unroll=self.unroll,
            remat=self.remat,
            dtype=self.dtype,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; `TrainConfig.from_json` inverts it."""
        data = dataclasses.asdict(self)
        data["geometry"] = [list(block) for block in self.geometry]
        if isinstance(self.implicit_init_scale, tuple):
            data["implicit_init_scale"] = list(self.implicit_init_scale)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainConfig":
        """Reads a dict written by `to_json`; fields it lacks take their defaults."""
        if data.get("unroll") is None:  # written when None meant the backend's default
            data = {k: v for k, v in data.items() if k != "unroll"}
        return cls(**{**data, "geometry": tuple(tuple(block) for block in data["geometry"])})


def _choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {field.replace('_', '-')} {value!r}; choose one of {', '.join(allowed)}")


QTIPS_PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(name="tiny", geometry=((3, 8),), epochs=2, batch_size=8, num_train=32, num_val=16),
    "small": TrainConfig(
        name="small",
        geometry=((9, 16),),
        implicit_init_scale=(1.0, 16.0),
        epochs=20,
        batch_size=8,
        learning_rate=3e-3,  # experiments/RESULTS.md: IoU 0.94 against 0.80 at 1e-3
    ),
    "paper": TrainConfig(
        name="paper",
        geometry=((4, 64), (4, 128), (4, 256)),
        implicit_init_scale=(1.0, 16.0),
        epochs=100,
        batch_size=8,
    ),
}
"""Q-tips configurations: `tiny` runs in seconds (tests, CI), `small` is the default and fits
15 minutes on 2 CPU cores (Adam at 3e-3, cosine decay), `paper` is the authors' geometry, h = 1,
batch 8, 100 epochs, Adam at 1e-3."""


def qtips_config(name: str) -> TrainConfig:
    """The Q-tips preset called `name`; raises ConfigError for an unknown name."""
    _choice("config", name, tuple(QTIPS_PRESETS))
    return QTIPS_PRESETS[name]
