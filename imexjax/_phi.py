"""The phi functions of exponential integrators, `phi_k(z) = sum_{j >= 0} z^j / (j + k)!`, stable near 0.

`phi` evaluates them elementwise; `PhiMethods` names a linear term's `phi(index, ...)` at
index 0, 1 and 2 `exp`, `phi1` and `phi2`, the names the exponential integrators call.
"""

import math

import jax
import jax.numpy as jnp

from ._custom_types import PyTree, Scalar

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


class PhiMethods:
    r"""`exp`, `phi1` and `phi2`: the names the exponential integrators call, over one method `phi`.

    A linear term $L$ (for example $-C^\top C$) that implements `phi(index, h, b, *rest)`,
    returning $\varphi_k(h L)\, b$ for k = `index`, gets from this class `exp(h, b, *rest)` = `phi(0, h, b, *rest)`,
    `phi1(...)` = `phi(1, ...)` and `phi2(...)` = `phi(2, ...)`, which `imexjax.ExpEuler` and
    `imexjax.ETDRK2` call (`rest` is what the term takes after `b`, e.g. its per-step args).
    """

    def phi(self, index: int, h: Scalar, b: PyTree, *rest) -> PyTree:
        r"""Returns $\varphi_k(h L)\, b$, k = `index`, with the structure, shapes and dtypes of `b`."""
        raise NotImplementedError

    def exp(self, h: Scalar, b: PyTree, *rest) -> PyTree:
        r"""Returns $\exp(h L)\, b$: `phi(0, h, b, *rest)`."""
        return self.phi(0, h, b, *rest)

    def phi1(self, h: Scalar, b: PyTree, *rest) -> PyTree:
        r"""Returns $\varphi_1(h L)\, b$, $\varphi_1(z) = (e^z - 1) / z$: `phi(1, h, b, *rest)`."""
        return self.phi(1, h, b, *rest)

    def phi2(self, h: Scalar, b: PyTree, *rest) -> PyTree:
        r"""Returns $\varphi_2(h L)\, b$, $\varphi_2(z) = (e^z - 1 - z) / z^2$: `phi(2, h, b, *rest)`."""
        return self.phi(2, h, b, *rest)
