"""The classical fourth-order Runge-Kutta method."""

import dataclasses
from typing import ClassVar

from .._custom_types import PyTree, Scalar, VectorField
from ._base import AbstractSolver
from ._tree import axpy, linear_combination


@dataclasses.dataclass(frozen=True)
class RK4(AbstractSolver):
    """Classical RK4 (the 1/6, 1/3, 1/3, 1/6 rule; torchdiffeq's 'rk4' is the 3/8 rule instead)."""

    name: ClassVar[str] = "rk4"
    label: ClassVar[str] = "RK4"
    order: ClassVar[int] = 4
    stages: ClassVar[int] = 4

    def step(self, terms: VectorField, t0: Scalar, y0: PyTree, args: PyTree, h: Scalar) -> PyTree:
        k1 = terms(t0, y0, args)
        k2 = terms(t0 + 0.5 * h, axpy(0.5 * h, k1, y0), args)
        k3 = terms(t0 + 0.5 * h, axpy(0.5 * h, k2, y0), args)
        k4 = terms(t0 + h, axpy(h, k3, y0), args)
        sixth = h / 6.0
        return linear_combination(y0, (sixth, 2 * sixth, 2 * sixth, sixth), (k1, k2, k3, k4))
