"""The exponential Euler method (ETD1): the linear term integrated exactly, the explicit one frozen."""

import dataclasses
from typing import ClassVar

from .._custom_types import ExponentialTerm, PyTree, Scalar, VectorField
from ._base import AbstractSolver
from ._tree import axpy


@dataclasses.dataclass(frozen=True)
class ExpEuler(AbstractSolver):
    r"""Exponential Euler (exponential time differencing, ETD1) for `dy/dt = f(t, y) + A y`, `A` linear.

    $y_1 = \exp(h A)\, y_0 + h\, \varphi_1(h A)\, f(t_0, y_0)$ (`f` given `explicit_args`),
    $\varphi_1(z) = (e^z - 1) / z$:
    the exact solution over the step when `f` is held at its value at `t0`. With
    $A = -C^\top C$ (`imexjax.ConvDiffusion`) both products are one FFT round trip. Exact
    for `f = 0` whatever `h`; first order otherwise. Its amplification factor on
    `y' = lambda y + mu y` (explicit `lambda`, linear `mu`; `z = h lambda`, `w = h mu`) is
    $e^w + \varphi_1(w)\, z$.
    """

    name: ClassVar[str] = "etd"
    label: ClassVar[str] = "ETD"
    order: ClassVar[int] = 1
    stages: ClassVar[int] = 1
    imex: ClassVar[bool] = True
    linear_methods: ClassVar[tuple[str, ...]] = ("exp", "phi1")

    def step(
        self,
        terms: tuple[VectorField, ExponentialTerm],
        t0: Scalar,
        y0: PyTree,
        args: tuple[PyTree, PyTree],
        h: Scalar,
    ) -> PyTree:
        return exp_euler_stage(terms, t0, y0, args, h)[1]

    def paper_step(
        self,
        terms: tuple[VectorField, ExponentialTerm],
        t0: Scalar,
        y0: PyTree,
        args: tuple[PyTree, PyTree],
        h: Scalar,
    ) -> PyTree:
        r"""$y_1 = y_0 + h\, arphi_1(h A)\, f(t_0, y_0)$: the split step with one product.

        $\exp(hA) y_0 + h arphi_1(hA) (f - A y_0) = y_0 + h arphi_1(hA) f$, since
        $h arphi_1(hA) A = \exp(hA) - I$.
        """
        field, linear = terms
        field_args, linear_args = args
        return axpy(h, linear.phi1(h, field(t0, y0, field_args), linear_args), y0)


def exp_euler_stage(
    terms: tuple[VectorField, ExponentialTerm], t0: Scalar, y0: PyTree, args: tuple[PyTree, PyTree], h: Scalar
) -> tuple[PyTree, PyTree]:
    r"""One exponential Euler stage: `(k1, a)`.

    $k_1 = f(t_0, y_0)$ and $a = \exp(h A)\, y_0 + h\, \varphi_1(h A)\, k_1$.

    Shared by `ExpEuler` (its step is `a`) and `ETDRK2` (its first stage, whose `k1` it reuses).
    """
    f_explicit, linear = terms
    explicit_args, linear_args = args
    k1 = f_explicit(t0, y0, explicit_args)
    return k1, axpy(h, linear.phi1(h, k1, linear_args), linear.exp(h, y0, linear_args))
