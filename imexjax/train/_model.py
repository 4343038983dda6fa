"""The network and optimizer a `TrainConfig` describes."""

import optax
from flax import nnx

from ..models import MultiLevelNet, TimeSteppingNet, UNet, build_compiled
from ._config import TrainConfig

NETWORK_CLASSES: dict[str, type[nnx.Module]] = {
    "timestepping": TimeSteppingNet,
    "unet": UNet,
    "multilevel": MultiLevelNet,
}
"""The class of each `TrainConfig.network`."""


def build_model(config: TrainConfig, *, in_channels: int, num_outputs: int) -> nnx.Module:
    """The network of `config` (a `TimeSteppingNet`, `UNet` or `MultiLevelNet`), initialized from `config.seed`.

    Its parameters are computed in one compiled call (`imexjax.models.build_compiled`), the
    values of the eager constructor.
    """
    network = NETWORK_CLASSES[config.network]
    options = config.model_options()
    return build_compiled(
        lambda: network(in_channels=in_channels, num_outputs=num_outputs, rngs=nnx.Rngs(config.seed), **options)
    )


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam, or SGD with momentum 0.9, at `config.learning_rate`, constant or cosine-decayed to 0."""
    learning_rate = config.learning_rate
    if config.schedule == "cosine":
        learning_rate = optax.cosine_decay_schedule(config.learning_rate, max(config.epochs * steps_per_epoch, 1))
    if config.optimizer == "sgd":
        return optax.sgd(learning_rate, momentum=0.9)
    return optax.adam(learning_rate)
