"""ETDRK2: Cox and Matthews' second-order exponential Runge-Kutta method."""

import dataclasses
from typing import ClassVar

from .._custom_types import ExponentialTerm, PyTree, Scalar, VectorField
from ._base import AbstractSolver
from ._exp_euler import exp_euler_stage
from ._tree import axpy, linear_combination


@dataclasses.dataclass(frozen=True)
class ETDRK2(AbstractSolver):
    r"""ETD2RK (Cox & Matthews 2002) for `dy/dt = f(t, y) + A y`, `A` linear and integrated exactly.

    One step, with $\varphi_1(z) = (e^z - 1) / z$ and $\varphi_2(z) = (e^z - 1 - z) / z^2$ of $h A$
    from the linear term's `exp`, `phi1` and `phi2`:

        k1 = f(t0, y0)
        a  = exp(h A) y0 + h phi_1(h A) k1          (an `ExpEuler` step)
        k2 = f(t0 + h, a)
        y1 = a + h phi_2(h A) (k2 - k1)

    Second order, two evaluations of `f` and three products with functions of `A` per
    step; exact for `f = 0` whatever `h`. With $A = -C^\top C$ (`imexjax.ConvDiffusion`)
    each product is one FFT round trip. Its amplification factor on `y' = lambda y + mu y`
    (explicit `lambda`, linear `mu`; `z = h lambda`, `w = h mu`) is
    $R = a + \varphi_2(w)\, z\, (a - 1)$ with $a = e^w + \varphi_1(w)\, z$.
    """

    name: ClassVar[str] = "etd2"
    label: ClassVar[str] = "ETD-RK2"
    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2
    imex: ClassVar[bool] = True
    linear_methods: ClassVar[tuple[str, ...]] = ("exp", "phi1", "phi2")

    def step(
        self,
        terms: tuple[VectorField, ExponentialTerm],
        t0: Scalar,
        y0: PyTree,
        args: tuple[PyTree, PyTree],
        h: Scalar,
    ) -> PyTree:
        f_explicit, linear = terms
        explicit_args, linear_args = args
        k1, a = exp_euler_stage(terms, t0, y0, args, h)
        k2 = f_explicit(t0 + h, a, explicit_args)
        correction = linear.phi2(h, linear_combination(k2, (-1.0,), (k1,)), linear_args)
        return axpy(h, correction, a)
