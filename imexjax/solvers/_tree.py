"""Small pytree arithmetic used by the solvers' steps."""

import jax

from .._custom_types import PyTree, Scalar


def axpy(a: Scalar, x: PyTree, y: PyTree) -> PyTree:
    """Returns `y + a * x` leaf by leaf, keeping the dtype of each leaf of `y`."""
    return jax.tree.map(lambda xi, yi: (yi + a * xi).astype(yi.dtype), x, y)


def linear_combination(y: PyTree, coefficients: tuple[Scalar, ...], increments: tuple[PyTree, ...]) -> PyTree:
    """Returns `y + sum_i coefficients[i] * increments[i]` leaf by leaf, in the dtype of `y`."""

    def combine(yi, *ks):
        total = yi
        for c, k in zip(coefficients, ks, strict=True):
            total = total + c * k
        return total.astype(yi.dtype)

    return jax.tree.map(combine, y, *increments)
