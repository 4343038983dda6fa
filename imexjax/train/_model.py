"""The network and optimizer a `TrainConfig` describes."""

import optax
from flax import nnx

from ..models import TimeSteppingNet
from ._config import TrainConfig


def build_model(config: TrainConfig, *, in_channels: int, num_outputs: int) -> TimeSteppingNet:
    """The network of `config`, initialized from `config.seed`."""
    return TimeSteppingNet(
        in_channels=in_channels, num_outputs=num_outputs, rngs=nnx.Rngs(config.seed), **config.model_options()
    )


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam, or SGD with momentum 0.9, at `config.learning_rate`, constant or cosine-decayed to 0."""
    learning_rate = config.learning_rate
    if config.schedule == "cosine":
        learning_rate = optax.cosine_decay_schedule(config.learning_rate, max(config.epochs * steps_per_epoch, 1))
    if config.optimizer == "sgd":
        return optax.sgd(learning_rate, momentum=0.9)
    return optax.adam(learning_rate)
