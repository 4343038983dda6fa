"""Whether a network can take a loader's inputs, checked before a run writes anything."""

import jax
from flax import nnx

from .._errors import ConfigError
from ._config import TrainConfig
from ._loader import Loader


def check_inputs_fit(config: TrainConfig, model: nnx.Module, loader: Loader) -> None:
    """Raises ConfigError if the network cannot take `loader`'s inputs (traced abstractly, nothing runs).

    Args:
      config: the run's configuration; its `network` decides which fix the message names.
      model: the network.
      loader: a loader of the inputs; one batch is read for its shape and dtype.
    """
    inputs, _ = next(iter(loader.epoch(0)))
    try:
        graphdef, variables = nnx.split(model)
        jax.eval_shape(
            lambda v, x: nnx.merge(graphdef, v, copy=True)(x),
            variables,
            jax.ShapeDtypeStruct(inputs.shape, inputs.dtype),
        )
    except (ValueError, TypeError) as error:
        field, fix = _SMALLER_NETWORK[config.network]
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ConfigError(
            f"inputs of shape {inputs.shape[1:]} do not fit the network ({reason}); pass larger images or {fix}",
            field=field,
        ) from None


_SMALLER_NETWORK = {
    "timestepping": ("implicit_kernel_size", "a smaller implicit_kernel_size"),
    "multilevel": ("geometry", "fewer blocks in geometry (each halves the image) or a smaller implicit kernel size"),
    "unet": ("unet_levels", "fewer unet_levels (each halves the image)"),
}
"""What makes each network kind take smaller images: the field to change, and how."""
