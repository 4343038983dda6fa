"""The phi functions of exponential integrators, `phi_k(z) = sum_{j >= 0} z^j / (j + k)!`, stable near 0."""

import math

import jax
import jax.numpy as jnp

_SERIES_RADIUS = 0.5
"""Below this |z| the Taylor series is summed; above it, the closed forms cancel at most a few ulps."""
_SERIES_TERMS = 15
"""Terms of the series: its truncation error is below 0.5^15 / 16! ~ 2e-18 of the value for |z| < 0.5."""


def phi(k: int, z: jax.Array) -> jax.Array:
    """Returns `phi_k(z)` elementwise: `phi_0 = exp`, `phi_1(z) = (e^z - 1) / z`, `phi_2(z) = (e^z - 1 - z) / z^2`.

    `phi_k(0) = 1 / k!`. For `|z| < 1/2` the Taylor series `sum_j z^j / (j + k)!` is summed
    (15 terms); elsewhere `phi_1(z) = expm1(z) / z` and `phi_k(z) = (phi_{k-1}(z) - 1/(k-1)!) / z`,
    which cancel at most a few ulps there. The branch not taken sees a harmless argument, so
    values and gradients are finite at and near `z = 0`.

    Args:
      k: the index, an int >= 0.
      z: a real or complex array, any shape.

    Returns:
      An array of the shape and dtype of `z`.

    Raises:
      ValueError: `k` is not a non-negative int.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a non-negative int, got {k!r}")
    if k == 0:
        return jnp.exp(z)
    small = jnp.abs(z) < _SERIES_RADIUS
    z_series = jnp.where(small, z, 0)
    z_closed = jnp.where(small, _SERIES_RADIUS, z)
    series = jnp.zeros_like(z_series)
    for j in reversed(range(_SERIES_TERMS)):
        series = series * z_series + 1.0 / math.factorial(j + k)
    closed = jnp.expm1(z_closed) / z_closed
    for index in range(2, k + 1):
        closed = (closed - 1.0 / math.factorial(index - 1)) / z_closed
    return jnp.where(small, series, closed)
