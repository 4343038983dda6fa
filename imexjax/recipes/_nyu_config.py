"""The depth configuration: the engine's fields plus the frame size and synthetic split sizes, and the presets."""

import dataclasses
from typing import ClassVar

from .._errors import ConfigError
from .._fields import choices, described, format_size, parse_size
from .._validate import check_positive_integers
from ..train import TrainConfig
from ._presets import preset_for, presets_by_network
from ._qtips_config import EVAL_SPLITS


@dataclasses.dataclass(frozen=True)
class DepthConfig(TrainConfig):
    """A depth-estimation run on NYU Depth V2 or synthetic rooms: every field of `TrainConfig`, and the frames'.

    Each field's meaning is its `help` metadata, as for `TrainConfig`.
    """

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {**TrainConfig.CHOICES, "eval_split": EVAL_SPLITS}

    resolution: tuple[int, int] = described(
        "`(height, width)` the frames are resized to (rendered at, for synthetic rooms).",
        default=(120, 160),
        metavar="HxW",
        parse=parse_size,
        format=format_size,
    )
    num_train: int = described("training frames to render (synthetic rooms only; NYU has fixed splits).", default=512)
    num_val: int = described("validation frames to render (synthetic rooms only).", default=64)
    eval_split: str = described(
        """`val`: evaluate every epoch, and keep the best, on the validation split (the one
        results report); `select`: on the selection split instead, `num_val` rooms rendered from
        another seed than any run's (synthetic rooms only), for choosing hyperparameters without
        looking at the validation split.""",
        default="val",
        metavar=choices(EVAL_SPLITS),
    )

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
            raise ConfigError(
                f"resolution must be two positive integers HEIGHTxWIDTH, got {self.resolution!r}", field="resolution"
            )


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


NYU_NETWORK_PRESETS: dict[tuple[str, str], DepthConfig] = presets_by_network(
    NYU_PRESETS,
    {
        "tiny": {"unet": dict(unet_levels=2, unet_base_width=4), "multilevel": dict(geometry=((2, 4), (2, 4)))},
        # parameters: IMEX 15,361, ResNet 14,497, U-Net 16,771, multilevel IMEX 15,561 (ResNet 15,021)
        "small": {
            "unet": dict(unet_levels=3, unet_base_width=6),
            "multilevel": dict(geometry=((3, 8), (2, 12), (3, 16))),
        },
        "paper": {"unet": dict(unet_levels=4, unet_base_width=40)},
    },
)
"""`(preset, network) -> config`: each depth preset on each network kind; at `small` (48x64
frames) the parameter counts of all kinds lie within 15% of the largest, the U-Net and the
multilevel network with 3 levels (the coarsest at 12x16)."""


def nyu_config(name: str, network: str = "timestepping") -> DepthConfig:
    """The depth preset called `name` on `network`; raises ConfigError for an unknown name or network."""
    return preset_for(NYU_NETWORK_PRESETS, name, network)
