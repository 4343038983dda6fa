"""Forward Euler: the ResNet step."""

import dataclasses
from typing import ClassVar

from .._custom_types import PyTree, Scalar, VectorField
from ._base import AbstractSolver
from ._tree import axpy


@dataclasses.dataclass(frozen=True)
class Euler(AbstractSolver):
    """Forward Euler, `y1 = y0 + h f(t0, y0, args)`; with `h = 1` a residual block."""

    name: ClassVar[str] = "euler"
    label: ClassVar[str] = "ResNet"
    order: ClassVar[int] = 1
    stages: ClassVar[int] = 1

    def step(self, terms: VectorField, t0: Scalar, y0: PyTree, args: PyTree, h: Scalar) -> PyTree:
        return axpy(h, terms(t0, y0, args), y0)
