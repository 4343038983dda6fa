"""The Q-tips configuration: the engine's fields plus those of the generated data, and the presets."""

import dataclasses
from typing import ClassVar

from .._errors import ConfigError
from .._fields import choices, described
from .._validate import check_positive_integers
from ..data.qtips import MIN_QTIPS_SIZE, QTIPS_SIZE
from ..train import TrainConfig
from ._presets import preset_for, presets_by_network

EVAL_SPLITS: tuple[str, ...] = ("val", "select")
"""The splits a run can be evaluated on: `val` (reported) or `select` (for choosing hyperparameters)."""


@dataclasses.dataclass(frozen=True)
class QtipsConfig(TrainConfig):
    """A Q-tips segmentation run: every field of `TrainConfig`, and the generated data's.

    Each field's meaning is its `help` metadata, as for `TrainConfig`.
    """

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {**TrainConfig.CHOICES, "eval_split": EVAL_SPLITS}

    num_train: int = described("training images to generate (generated data only).", default=1024)
    num_val: int = described("validation images to generate (generated data only).", default=64)
    image_size: int = described(
        f"""height and width of the generated images in pixels (generated data only; a folder's
        images keep their own size). Bars are 32-60 px long at 64 and scale with the image,
        their width (3-7 px) and markers do not; at least {MIN_QTIPS_SIZE}, where the shortest
        bar, half the image, still holds two 4 px end markers and a body.""",
        default=QTIPS_SIZE,
        metavar="N",
    )
    class_weighted: bool = described(
        "weight the cross entropy by `1 - class frequency` (the authors' choice).", default=True
    )
    eval_split: str = described(
        """`val`: evaluate every epoch, and keep the best, on the validation split (the one
        results report); `select`: on the selection split instead, `num_val` images drawn from a
        stream independent of the training and validation ones (generated data only), for
        choosing hyperparameters without looking at the validation split.""",
        default="val",
        metavar=choices(EVAL_SPLITS),
    )

    def validate(self) -> None:
        """Raises ConfigError naming the first field that is out of range."""
        super().validate()
        check_positive_integers(self, ("num_train", "num_val", "image_size"))
        if self.image_size < MIN_QTIPS_SIZE:
            raise ConfigError(
                f"image_size must be at least {MIN_QTIPS_SIZE}, got {self.image_size}: the shortest bar, half "
                "the image, must hold two 4 px end markers and a body",
                field="image_size",
            )


QTIPS_PRESETS: dict[str, QtipsConfig] = {
    "tiny": QtipsConfig(name="tiny", geometry=((3, 8),), epochs=2, batch_size=8, num_train=32, num_val=16),
    "small": QtipsConfig(
        name="small",
        geometry=((9, 16),),
        implicit_init_scale=(1.0, 16.0),
        norm="batch",
        epochs=20,
        batch_size=8,
        learning_rate=0.01,  # the protocol's choice for IMEX on the selection split (batch, 0.01: 0.988)
    ),
    "paper": QtipsConfig(
        name="paper",
        geometry=((4, 64), (4, 128), (4, 256)),
        implicit_init_scale=(1.0, 16.0),
        epochs=100,
        batch_size=8,
    ),
}
"""Q-tips configurations of the time-stepping network: `tiny` runs in seconds (tests, CI), `small`
is the default and fits 15 minutes on 2 CPU cores (batch normalization, Adam at 0.01 with cosine
decay: what the equal-size protocol chose on its selection split), `paper` is the authors'
geometry, h = 1, batch 8, 100 epochs, Adam at 1e-3."""

QTIPS_NETWORK_PRESETS: dict[tuple[str, str], QtipsConfig] = presets_by_network(
    QTIPS_PRESETS,
    {
        "tiny": {"unet": dict(unet_levels=2, unet_base_width=4), "multilevel": dict(geometry=((2, 4), (2, 8)))},
        # parameters: IMEX 20,084, ResNet 18,932, U-Net 17,230, multilevel IMEX 18,916 (ResNet 18,412)
        "small": {
            "unet": dict(unet_levels=4, unet_base_width=3),
            "multilevel": dict(geometry=((3, 8), (2, 12), (2, 12), (2, 16))),
        },
        # parameters: IMEX 2.71M, U-Net 3.01M, multilevel IMEX 3.24M
        "paper": {"unet": dict(unet_levels=4, unet_base_width=40)},
    },
)
"""`(preset, network) -> config`: each preset on each network kind. At `small` the parameter
counts of all kinds lie within 15% of the largest (`tests/test_protocol.py`): the U-Net has 4
levels (the coarsest at 8x8, a receptive field wider than the bars) of widths 3, 6, 12, 24;
the multilevel network 4 levels of widths 8, 12, 12, 16, two implicit steps at full resolution
and one at each coarser level."""


def qtips_config(name: str, network: str = "timestepping") -> QtipsConfig:
    """The Q-tips preset called `name` on `network`; raises ConfigError for an unknown name or network."""
    return preset_for(QTIPS_NETWORK_PRESETS, name, network)
