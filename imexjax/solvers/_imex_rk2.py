"""ARS(2,2,2): a second-order, L-stable IMEX Runge-Kutta method (`IMEXRK2`)."""

import dataclasses
import math
from typing import ClassVar

from .._custom_types import LinearTerm, PyTree, Scalar, VectorField
from ._base import AbstractSolver
from ._tree import axpy, linear_combination

GAMMA = 1.0 - 1.0 / math.sqrt(2.0)
r"""The diagonal coefficient of the implicit tableau, $1 - 1/\sqrt{2}$."""
DELTA = 1.0 - 1.0 / (2.0 * GAMMA)
"""The explicit tableau's weight on the first stage in the last row, `1 - 1/(2 gamma)`."""


@dataclasses.dataclass(frozen=True)
class IMEXRK2(AbstractSolver):
    r"""ARS(2,2,2) (Ascher, Ruuth & Spiteri 1997) for `dy/dt = f(t, y) + A y`, `A` linear.

    Second order, with an L-stable, stiffly accurate implicit part (SDIRK, diagonal
    $\gamma = 1 - 1/\sqrt{2}$) and an explicit part that shares its stage times. The
    tableaus (explicit left, implicit right; `delta = 1 - 1/(2 gamma)`):

        0     | 0                        0     | 0
        gamma | gamma  0                 gamma | 0  gamma
        1     | delta  1-delta  0        1     | 0  1-gamma  gamma
        ------+------------------        ------+------------------
              | delta  1-delta  0              | 0  1-gamma  gamma

    One step, with `g = gamma`, `h` the step and $R(s) = (I - s A)^{-1}$ the linear
    term's `resolve(s, ., implicit_args)`:

        k1 = f(t0, y0)
        Y2 = R(g h) (y0 + g h k1)
        k2 = f(t0 + g h, Y2),          h A Y2 = (Y2 - y0 - g h k1) / g
        y1 = R(g h) (y0 + h (delta k1 + (1 - delta) k2) + (1 - g) h A Y2)

    Two implicit solves and two evaluations of `f` per step; `A` is never applied
    (the product `h A Y2` comes from the first solve), so only `resolve` is used.

    Its amplification factor on `y' = lambda y + mu y` (explicit `lambda`, implicit
    `mu`; `z = h lambda`, `w = h mu`, `d = 1 - g w`) is

        R(z, w) = (1 + delta z + ((1 - delta) z + (1 - g) w) (1 + g z) / d) / d,

    which tends to 0 as `w -> -inf` for fixed `z` (L-stability of the implicit part).
    """

    name: ClassVar[str] = "imex2"
    label: ClassVar[str] = "IMEX-RK2"
    order: ClassVar[int] = 2
    stages: ClassVar[int] = 2
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
        k1 = f_explicit(t0, y0, explicit_args)
        rhs2 = axpy(GAMMA * h, k1, y0)
        y2 = implicit.resolve(GAMMA * h, rhs2, implicit_args)
        k2 = f_explicit(t0 + GAMMA * h, y2, explicit_args)
        # gamma h A Y2 = Y2 - rhs2, from the stage equation Y2 = rhs2 + gamma h A Y2.
        gamma_h_a_y2 = linear_combination(y2, (-1.0,), (rhs2,))
        rhs3 = linear_combination(y0, (DELTA * h, (1.0 - DELTA) * h, (1.0 - GAMMA) / GAMMA), (k1, k2, gamma_h_a_y2))
        return implicit.resolve(GAMMA * h, rhs3, implicit_args)
