"""Type aliases shared across imexjax."""

from collections.abc import Callable
from typing import Any, Protocol

import jax

PyTree = Any
"""Any JAX pytree (arrays, tuples, dicts, dataclasses registered as pytrees...)."""

Scalar = float | jax.Array
"""A Python float or a scalar JAX array."""

VectorField = Callable[[Scalar, PyTree, PyTree], PyTree]
"""`f(t, y, args) -> dy/dt`, with `dy/dt` of the same structure as `y`."""


class LinearTerm(Protocol):
    """A linear vector field `A y` that an IMEX solver steps implicitly.

    Implementations (for example `ConvDiffusion`) give the product with `A` and the
    resolvent $(I - h A)^{-1}$.
    """

    def mv(self, y: jax.Array, args: PyTree) -> jax.Array:
        """Returns `A y`."""
        ...

    def resolve(self, h: Scalar, b: jax.Array, args: PyTree) -> jax.Array:
        """Returns $(I - h A)^{-1} b$."""
        ...


class ExponentialTerm(Protocol):
    r"""A linear vector field `A y` that an exponential integrator propagates exactly.

    Implementations (for example `ConvDiffusion`) give $\varphi_k(h A)\, b$ for the phi functions
    $\varphi_0 = \exp$, $\varphi_1(z) = (e^z - 1) / z$, $\varphi_2(z) = (e^z - 1 - z) / z^2$.
    """

    def exp(self, h: Scalar, b: jax.Array, args: PyTree) -> jax.Array:
        """Returns `exp(h A) b`."""
        ...

    def phi1(self, h: Scalar, b: jax.Array, args: PyTree) -> jax.Array:
        r"""Returns $\varphi_1(h A)\, b$."""
        ...

    def phi2(self, h: Scalar, b: jax.Array, args: PyTree) -> jax.Array:
        r"""Returns $\varphi_2(h A)\, b$."""
        ...
