"""The depth configuration: the engine's fields plus the frame size and synthetic split sizes, and the presets."""

import dataclasses

from .._errors import ConfigError
from .._validate import check_choice, check_positive_integers
from ..train import TrainConfig


@dataclasses.dataclass(frozen=True)
class DepthConfig(TrainConfig):
    """A depth-estimation run on NYU Depth V2 or synthetic rooms (every field of `TrainConfig`, and these).

    Attributes:
      resolution: `(height, width)` the frames are resized to (rendered at, for synthetic rooms).
      num_train: training frames to render (synthetic rooms only; NYU has fixed splits).
      num_val: validation frames to render (synthetic rooms only).
    """

    resolution: tuple[int, int] = (120, 160)
    num_train: int = 512
    num_val: int = 64

    def __post_init__(self):
        object.__setattr__(self, "resolution", tuple(self.resolution))
        super().__post_init__()

    def validate(self) -> None:
        """Raises ConfigError naming the first field that is out of range."""
        super().validate()
        check_positive_integers(self, ("num_train", "num_val"))
        if len(self.resolution) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in self.resolution
        ):
            raise ConfigError(f"resolution must be two positive integers HEIGHTxWIDTH, got {self.resolution!r}")


NYU_PRESETS: dict[str, DepthConfig] = {
    "tiny": DepthConfig(
        name="tiny", geometry=((3, 4),), resolution=(24, 32), epochs=1, batch_size=4, num_train=16, num_val=8
    ),
    "small": DepthConfig(
        name="small",
        geometry=((7, 16),),
        implicit_init_scale=(1.0, 16.0),
        resolution=(48, 64),
        epochs=12,
        batch_size=8,
        num_train=512,
        num_val=64,
    ),
    "paper": DepthConfig(
        name="paper",
        geometry=((4, 64), (4, 128), (4, 256)),
        implicit_init_scale=(1.0, 16.0),
        resolution=(240, 320),
        epochs=100,
        batch_size=8,
        num_train=1000,
        num_val=200,
    ),
}
"""Depth configurations: `tiny` runs in seconds (tests), `small` is the default (minutes on 2
CPU cores, synthetic rooms at 48x64), `paper` is the authors' Q-tips geometry (64/128/256
channels, h = 1, batch 8) at 240x320 for real data on a GPU."""


def nyu_config(name: str) -> DepthConfig:
    """The depth preset called `name`; raises ConfigError for an unknown name."""
    check_choice("config", name, tuple(NYU_PRESETS))
    return NYU_PRESETS[name]
