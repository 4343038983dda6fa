"""A network as a hashable structure plus its parameters, so that analyses compile once per structure."""

from collections.abc import Callable, Hashable
from typing import Any

import jax
from flax import nnx


def split_model(model: Callable[[jax.Array], jax.Array]) -> tuple[Hashable, Any]:
    """Splits `model` into `(structure, state)` with `apply_model(structure, state, x) == model(x)`.

    A Flax NNX module gives `nnx.split(model)`: its graph definition (hashable, equal for
    networks of the same architecture, so jitted analyses are compiled once per architecture)
    and its state (traced, not baked into compiled code). Any other callable is its own
    structure, with state None.
    """
    if isinstance(model, nnx.Module):
        return nnx.split(model)
    return model, None


def apply_model(structure: Hashable, state: Any, x: jax.Array) -> jax.Array:
    """Runs a model split by `split_model` on `x`."""
    if isinstance(structure, nnx.GraphDef):
        return nnx.merge(structure, state)(x)
    return structure(x)
