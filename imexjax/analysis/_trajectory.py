"""Every intermediate state of a `TimeSteppingNet`: the opening layer's output, then each step's."""

import jax
from flax import nnx

from .._integrate import integrate
from ..models import Block, TimeSteppingNet


def block_trajectory(block: Block, y: jax.Array) -> jax.Array:
    """The states of one block: its opening layer's output, then the state after each step.

    Mirrors `Block.__call__` with `integrate(..., trajectory=True)`; the last state equals
    `block(y)` (a test checks it).

    Args:
      block: a `Block` of a `TimeSteppingNet`.
      y: its input (B, H, W, in_channels).

    Returns:
      (num_steps + 1, B, H, W, width).
    """
    y = block.opening(y)
    if block.steps is None:
        return y[None]
    graphdef, step_params = nnx.split(block.steps)

    def f(t, state, params):
        return nnx.merge(graphdef, params)(state)

    options = dict(h=block.h, unroll=block.unroll, remat=block.remat, trajectory=True)
    if not block.solver.imex:
        return integrate(block.solver, f, y, step_params, **options)
    implicit = block.implicit
    kernels = block.implicit_kernels[...]
    if block.imex_form == "paper":

        def f_explicit(t, state, args):
            params, kernel = args
            return f(t, state, params) - implicit.mv(state, kernel)

        explicit_args = (step_params, kernels)
    else:
        f_explicit, explicit_args = f, step_params
    return integrate(block.solver, (f_explicit, implicit), y, (explicit_args, kernels), **options)


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
