"""IMEX Euler: forward Euler on the explicit term, backward Euler on the implicit one."""

import dataclasses
from typing import ClassVar

from .._custom_types import LinearTerm, PyTree, Scalar, VectorField
from ._base import AbstractSolver
from ._tree import axpy


@dataclasses.dataclass(frozen=True)
class IMEXEuler(AbstractSolver):
    r"""IMEX Euler for `dy/dt = f(t, y) + A y`, with `A` linear and stepped implicitly.

    $y_1 = (I - h A)^{-1} (y_0 + h f(t_0, y_0))$ (`f` given `explicit_args`). With $A = -C^\top C$ this is
    the IMEXnet step; see `imexjax.ConvDiffusion`.
    """

    name: ClassVar[str] = "imex"
    label: ClassVar[str] = "IMEX"
    order: ClassVar[int] = 1
    stages: ClassVar[int] = 1
    imex: ClassVar[bool] = True
    linear_methods: ClassVar[tuple[str, ...]] = ("mv", "resolve")

    def step(
        self,
        terms: tuple[VectorField, LinearTerm],
        t0: Scalar,
        y0: PyTree,
        args: tuple[PyTree, PyTree],
        h: Scalar,
    ) -> PyTree:
        f_explicit, implicit = terms
        explicit_args, implicit_args = args
        return implicit.resolve(h, axpy(h, f_explicit(t0, y0, explicit_args), y0), implicit_args)

    def paper_step(
        self,
        terms: tuple[VectorField, LinearTerm],
        t0: Scalar,
        y0: PyTree,
        args: tuple[PyTree, PyTree],
        h: Scalar,
    ) -> PyTree:
        r"""$y_1 = y_0 + h (I - h A)^{-1} f(t_0, y_0)$: the split step with one solve and no product with `A`.

        $(I - hA) y_1 = y_0 + h (f - A y_0)$ is $(I - hA)(y_1 - y_0) = h f$.
        """
        field, linear = terms
        field_args, linear_args = args
        return axpy(h, linear.resolve(h, field(t0, y0, field_args), linear_args), y0)
