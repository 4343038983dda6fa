"""`PaperForm`: an IMEX-type solver applied to a whole vector field, the linear term only splitting it."""

import dataclasses

from .._custom_types import PyTree, Scalar
from .._errors import ArgumentError
from ._base import AbstractSolver

IMEX_FORMS: tuple[str, ...] = ("paper", "code")
"""How an IMEX-type solver meets a network's layer `f` and its linear term `A`: `paper`
integrates `dy/dt = f(y)` split as `(f - A y) + A y` (`PaperForm`); `code` integrates
`dy/dt = f(y) + A y` (the solver itself)."""


@dataclasses.dataclass(frozen=True)
class PaperForm(AbstractSolver):
    r"""`solver` integrating `dy/dt = f(t, y)`, with the linear term `A` as a splitting only.

    IMEXnet's form: the explicit part is $f - A y$ and the implicit part $A y$, so the ODE
    solved is the field alone, and `A` only stabilizes the step. Its terms and args are those
    of `solver`, `(f, linear)` and `(f_args, linear_args)`; its step is `solver.paper_step`.

    Attributes:
      solver: an IMEX-type solver (`solver.imex`).
    """

    solver: AbstractSolver

    def __post_init__(self):
        if not (isinstance(self.solver, AbstractSolver) and self.solver.imex):
            raise ArgumentError("solver", f"PaperForm needs an IMEX-type solver, got {self.solver!r}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.solver.name

    @property
    def label(self) -> str:  # type: ignore[override]
        return self.solver.label

    @property
    def order(self) -> int:  # type: ignore[override]
        return self.solver.order

    @property
    def stages(self) -> int:  # type: ignore[override]
        return self.solver.stages

    @property
    def imex(self) -> bool:  # type: ignore[override]
        return True

    @property
    def linear_methods(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(dict.fromkeys((*self.solver.linear_methods, "mv")))

    def step(self, terms: PyTree, t0: Scalar, y0: PyTree, args: tuple[PyTree, PyTree], h: Scalar) -> PyTree:
        return self.solver.paper_step(terms, t0, y0, args, h)


def in_form(solver: AbstractSolver, form: str) -> AbstractSolver:
    """`solver` in IMEX form `form` (`IMEX_FORMS`): `PaperForm(solver)` for `paper` if `solver.imex`, else `solver`.

    Raises:
      ArgumentError: `form` is not in `IMEX_FORMS` (argument `imex_form`).
    """
    if form not in IMEX_FORMS:
        raise ArgumentError("imex_form", f"unknown imex_form {form!r}; choose one of {', '.join(IMEX_FORMS)}")
    return PaperForm(solver) if form == "paper" and solver.imex else solver
