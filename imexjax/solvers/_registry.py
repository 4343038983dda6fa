"""The one registry of integrators: each solver by its `name`, with its label, stages and order."""

from .._errors import ArgumentError
from ._base import AbstractSolver
from ._etdrk2 import ETDRK2
from ._euler import Euler
from ._exp_euler import ExpEuler
from ._imex_euler import IMEXEuler
from ._imex_rk2 import IMEXRK2
from ._midpoint import Midpoint
from ._rk4 import RK4

INTEGRATORS: dict[str, AbstractSolver] = {
    solver.name: solver for solver in (Euler(), Midpoint(), RK4(), IMEXEuler(), IMEXRK2(), ExpEuler(), ETDRK2())
}
"""Every solver by its `name` (`euler`, `midpoint`, `rk4`, `imex`, `imex2`, `etd`, `etd2`); a
network on `euler` is the ResNet. Tables, figures, configs and tests derive their lists from it."""


def solver_from_name(name: str) -> AbstractSolver:
    """Returns the solver called `name` in `INTEGRATORS`.

    Raises:
      ArgumentError: `name` is not one of them (argument `integrator`).
    """
    if not isinstance(name, str) or name not in INTEGRATORS:
        raise ArgumentError("integrator", f"unknown integrator {name!r}; choose one of {', '.join(INTEGRATORS)}")
    return INTEGRATORS[name]


def integrator_label(name: str) -> str:
    """The name a table or figure shows for the network on integrator `name` (`imex` -> `IMEX`, `euler` -> `ResNet`)."""
    return INTEGRATORS[name].label if name in INTEGRATORS else name
