"""The largest singular value of a Jacobian by power iteration with `jax.jvp` and `jax.vjp`."""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp


def jacobian_spectral_norm(
    fn: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    *,
    num_iterations: int = 30,
    key: jax.Array | None = None,
) -> jax.Array:
    r"""The largest singular value of the Jacobian of `fn` at `x`, never forming the Jacobian.

    Power iteration on $J^\top J$: $v \leftarrow J^\top (J v) / \|J^\top (J v)\|$ with $J v$ from `jax.jvp`
    and $J^\top u$ from `jax.vjp`; returns $\|J v\|$ for the final unit vector `v` (a lower
    bound that converges to sigma_max at the rate (sigma_2 / sigma_1)^(2 k)).

    Args:
      fn: a JAX function of one floating array, returning an array of any shape.
      x: the point, any shape.
      num_iterations: k >= 1.
      key: seeds the starting vector (default `jax.random.key(0)`).

    Compiled once per `fn` object (hashed by identity) and `num_iterations`: to analyse many
    inputs, pass the same `fn`.

    Returns:
      A scalar in the dtype of `fn(x)`.
    """
    if num_iterations < 1:
        raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
    x = jnp.asarray(x)
    key = jax.random.key(0) if key is None else key
    return _power_iteration(fn, num_iterations, x, key)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _power_iteration(fn, num_iterations, x, key):
    _, vjp = jax.vjp(fn, x)

    def jvp(v):
        return jax.jvp(fn, (x,), (v,))[1]

    def normalize(v):
        norm = jnp.linalg.norm(v)
        return jnp.where(norm > 0, v / jnp.where(norm > 0, norm, 1), v)

    def body(_, v):
        return normalize(vjp(jvp(v))[0])

    v = normalize(jax.random.normal(key, x.shape, x.dtype))
    v = jax.lax.fori_loop(0, num_iterations, body, v)
    return jnp.linalg.norm(jvp(v))
