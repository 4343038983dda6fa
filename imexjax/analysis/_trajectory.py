"""Every intermediate state of a `TimeSteppingNet`: the opening layer's output, then each step's."""

import jax

from ..models import Block, TimeSteppingNet


def block_trajectory(block: Block, y: jax.Array) -> jax.Array:
    """The states of one block: its opening layer's output, then the state after each step.

    Args:
      block: a `Block` of a `TimeSteppingNet`.
      y: its input (B, H, W, in_channels).

    Returns:
      (num_steps + 1, B, H, W, width); the last equals `block(y)`.
    """
    return block(y, trajectory=True)


def layer_states(model: TimeSteppingNet, x: jax.Array) -> list[jax.Array]:
    """The state after every layer of `model`, in order (the head excluded).

    Each block contributes its opening layer's output and the state after each of its steps,
    so there are `sum(layers for layers, _ in model.geometry)` states; the last is
    `model.features(x)`.

    Args:
      model: a `TimeSteppingNet`.
      x: images (B, H, W, in_channels).

    Returns:
      A list of arrays (B, H, W, width of the layer's block).
    """
    if not isinstance(model, TimeSteppingNet):
        raise TypeError(f"layer_states needs an imexjax.models.TimeSteppingNet, got {type(model).__name__}")
    states: list[jax.Array] = []
    y = x
    for block in model.blocks:
        trajectory = block_trajectory(block, y)
        states.extend(trajectory[n] for n in range(trajectory.shape[0]))
        y = trajectory[-1]
    return states
