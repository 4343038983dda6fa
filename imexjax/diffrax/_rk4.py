"""Classical RK4 as a tableau-based diffrax solver (diffrax itself has none)."""

from collections.abc import Callable
from typing import ClassVar

import diffrax
import numpy as np

_rk4_tableau = diffrax.ButcherTableau(
    a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
    b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
    # The only third-order weights on these stages are RK4's own, so the embedded method
    # is the midpoint rule (second order): a crude estimate, of local order 3.
    b_error=np.array([1 / 6, 1 / 3 - 1.0, 1 / 3, 1 / 6]),
    c=np.array([0.5, 0.5, 1.0]),
)


class RK4(diffrax.AbstractERK):
    """The classical fourth-order Runge-Kutta method (the 1/6, 1/3, 1/3, 1/6 rule).

    The same step as `imexjax.RK4`. For fixed steps (`diffrax.ConstantStepSize`); it has an
    embedded midpoint rule, so adaptive stepping works but with a low-order (local order 3)
    error estimate: prefer `diffrax.Tsit5` or `Dopri5` for adaptive solves. Third-order
    Hermite interpolation for dense output.
    """

    tableau: ClassVar[diffrax.ButcherTableau] = _rk4_tableau
    interpolation_cls: ClassVar[Callable[..., diffrax.ThirdOrderHermitePolynomialInterpolation]] = (
        diffrax.ThirdOrderHermitePolynomialInterpolation.from_k
    )

    def order(self, terms):
        return 4

    def error_order(self, terms):
        return 3
