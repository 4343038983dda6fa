"""The base class of the fixed-step solvers."""

import abc
import dataclasses
from typing import ClassVar

from .._custom_types import PyTree, Scalar
from ._tree import linear_combination


@dataclasses.dataclass(frozen=True)
class AbstractSolver(abc.ABC):
    """A one-step method for `dy/dt = F(t, y)` with parameters held fixed over the step.

    Attributes:
      name: the solver's name in configs and command lines (`imexjax.solvers.INTEGRATORS`).
      label: the name tables and figures give a network built on it (`euler` -> `ResNet`).
      order: the global order of accuracy (error `O(h**order)` at fixed final time).
      stages: how many times a step evaluates the vector field (for IMEX-type solvers, the
        explicit field); `integrate(..., staged=True)` numbers these evaluations.
      imex: whether `terms` is an `(explicit_field, implicit_linear_term)` pair and `args`
        an `(explicit_args, implicit_args)` pair, rather than one vector field.
      linear_methods: for IMEX-type solvers, the methods the linear term must have
        (`mv` and `resolve` for IMEX Runge-Kutta steps, `exp` and the phi functions for
        exponential integrators); `integrate` checks them before tracing.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    order: ClassVar[int]
    stages: ClassVar[int]
    imex: ClassVar[bool] = False
    linear_methods: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def step(self, terms: PyTree, t0: Scalar, y0: PyTree, args: PyTree, h: Scalar) -> PyTree:
        """Advances the state by one step.

        Args:
          terms: a vector field `f(t, y, args)`, or for IMEX solvers a pair
            `(f_explicit, implicit)` with `implicit` a linear term with `linear_methods`.
          t0: the time at the start of the step.
          y0: the state at `t0`, any pytree of floating arrays.
          args: the parameters of this step (one slice of the per-step args).
          h: the step size, positive.

        Returns:
          The state at `t0 + h`, with the structure, shapes and dtypes of `y0`.
        """

    def paper_step(self, terms: PyTree, t0: Scalar, y0: PyTree, args: tuple[PyTree, PyTree], h: Scalar) -> PyTree:
        r"""One step of `dy/dt = f(t, y)` split as $(f - A y) + A y$, for IMEX-type solvers (see `PaperForm`).

        The step of `step` with the explicit field $f(t, y) - A y$ and the implicit term $A y$.
        Solvers whose split step has a cheaper closed form override it, and must give the same
        state (tested for every solver against this definition).

        Args:
          terms: `(f, linear)`: the whole vector field and a linear term with `linear_methods` and `mv`.
          t0: the time at the start of the step.
          y0: the state at `t0`.
          args: `(f_args, linear_args)` of this step.
          h: the step size.

        Returns:
          The state at `t0 + h`, with the structure, shapes and dtypes of `y0`.
        """
        field, linear = terms
        linear_args = args[1]

        def explicit(t, y, field_args):
            return linear_combination(field(t, y, field_args), (-1.0,), (linear.mv(y, linear_args),))

        return self.step((explicit, linear), t0, y0, args, h)
