"""Classical RK4 as a diffrax solver (diffrax itself has none): the step of `imexjax.RK4`."""

from typing import ClassVar

import diffrax

from .. import solvers
from ._scheme import AbstractSchemeSolver, step_time_field


class RK4(AbstractSchemeSolver, diffrax.AbstractAdaptiveSolver):
    """The classical fourth-order Runge-Kutta method (the 1/6, 1/3, 1/3, 1/6 rule), the step of `imexjax.RK4`.

    Any diffrax term (`ODETerm(f)`, or a `MultiTerm` of them): the stages are `imexjax.RK4`'s
    own, applied to the term's increment over the step (see `AbstractSchemeSolver`). Meant for
    fixed steps (`diffrax.ConstantStepSize`). Its error estimate is the difference from the
    explicit midpoint rule (`imexjax.Midpoint`, whose two stages are RK4's first two), so
    adaptive stepping works but with a low-order (local order 3) estimate: prefer
    `diffrax.Tsit5` or `Dopri5` for adaptive solves. Dense output is linear between steps.
    """

    scheme: ClassVar[solvers.AbstractSolver] = solvers.RK4()
    embedded: ClassVar[solvers.AbstractSolver] = solvers.Midpoint()

    def scheme_inputs(self, terms, t0, t1, args):
        return step_time_field(terms, t0, t1), args
