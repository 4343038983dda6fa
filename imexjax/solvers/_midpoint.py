"""The explicit midpoint method."""

import dataclasses
from typing import ClassVar

from .._custom_types import PyTree, Scalar, VectorField
from ._base import AbstractSolver
from ._tree import axpy


@dataclasses.dataclass(frozen=True)
class Midpoint(AbstractSolver):
    """Explicit midpoint: `y1 = y0 + h f(t0 + h/2, y0 + h/2 f(t0, y0))`."""

    name: ClassVar[str] = "midpoint"
    label: ClassVar[str] = "midpoint"
    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2

    def step(self, terms: VectorField, t0: Scalar, y0: PyTree, args: PyTree, h: Scalar) -> PyTree:
        k1 = terms(t0, y0, args)
        k2 = terms(t0 + 0.5 * h, axpy(0.5 * h, k1, y0), args)
        return axpy(h, k2, y0)
