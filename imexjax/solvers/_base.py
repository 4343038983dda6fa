"""The base class of the fixed-step solvers."""

import abc
import dataclasses
from typing import ClassVar

from .._custom_types import PyTree, Scalar


@dataclasses.dataclass(frozen=True)
class AbstractSolver(abc.ABC):
    """A one-step method for `dy/dt = F(t, y)` with parameters held fixed over the step.

    Attributes:
      order: the global order of accuracy (error `O(h**order)` at fixed final time).
      stages: how many times a step evaluates the vector field (for IMEX-type solvers, the
        explicit field). A layer normalized by batch statistics fits one-stage solvers only:
        it keeps one set of running statistics per step, not per stage.
      imex: whether `terms` is an `(explicit_field, implicit_linear_term)` pair and `args`
        an `(explicit_args, implicit_args)` pair, rather than one vector field.
      linear_methods: for IMEX-type solvers, the methods the linear term must have
        (`mv` and `resolve` for IMEX Runge-Kutta steps, `exp` and the phi functions for
        exponential integrators); `integrate` checks them before tracing.
    """

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
