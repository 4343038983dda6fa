"""Building a network's parameters in one compiled call instead of one eager call per initializer."""

from collections.abc import Callable
from typing import TypeVar

import jax
import jax.numpy as jnp
from flax import nnx

ModuleT = TypeVar("ModuleT", bound=nnx.Module)

INIT_COMPILER_OPTIONS: dict[str, int] = {"xla_backend_optimization_level": 2}
"""XLA options of the initialization's compilation. At the default level (3) LLVM spends about
10 s on the random-number code of a U-Net's initializers on a CPU core; at level 2 about 1.5 s,
with the same parameters bit for bit (tested). The initialization runs once, so its code's own
speed does not matter."""


def build_compiled(factory: Callable[[], ModuleT]) -> ModuleT:
    """The module `factory()` returns, with every initializer run in one compiled call.

    A Flax NNX constructor called eagerly runs each initializer as its own operation, and JAX
    compiles one for every distinct parameter shape: seconds to minutes for a network of many
    layers. Here the constructor is traced twice, once abstractly (`nnx.eval_shape`: the
    structure, and any `ValueError` of a bad argument, before anything is compiled) and once
    under `jax.jit`, so the parameters are computed by one program, which the persistent
    compilation cache can also keep between runs. The values are those of the eager
    constructor, bit for bit. Called inside a trace (under `jax.jit`, `jax.eval_shape`...), it
    calls `factory()`: the enclosing trace computes the parameters.

    Args:
      factory: builds the module, taking its random streams from inside, such as
        `lambda: TimeSteppingNet(..., rngs=nnx.Rngs(0))`. It must not close over an
        `nnx.Rngs` or a module created outside: the call's random state would not come back.

    Returns:
      The module, as `factory()` would return it.
    """
    if isinstance(jnp.zeros(()), jax.core.Tracer):
        return factory()
    graphdef = nnx.graphdef(nnx.eval_shape(factory))
    state = jax.jit(lambda: nnx.state(factory()), compiler_options=INIT_COMPILER_OPTIONS)()
    return nnx.merge(graphdef, state)
