r"""The adapter behind every imexjax scheme in diffrax: one step of the scheme's own `step` per diffrax step.

A diffrax step from `t0` to `t1` is one step of size 1 in the step's own time
`s = (t - t0) / (t1 - t0)`, in which a term's vector field is its increment over the step,
`term.vf_prod(t0 + s (t1 - t0), y, args, term.contr(t0, t1))` (for an `ODETerm`, `(t1 - t0) f`).
The stages are those of `imexjax.solvers`, written once; the adapters only say which terms
and args the scheme takes (`scheme_inputs`).
"""

from collections.abc import Callable
from typing import ClassVar

import diffrax
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from .. import solvers
from .._custom_types import Scalar


def step_time_field(term: diffrax.AbstractTerm, t0, t1) -> Callable[[Scalar, PyTree[Array], PyTree], PyTree[Array]]:
    """The increment of `term` over `[t0, t1]` as a vector field `(s, y, args)` of the step's own time `s`.

    Args:
      term: a diffrax term.
      t0: the start of the diffrax step.
      t1: its end.

    Returns:
      `field(s, y, args) = term.vf_prod(t0 + s (t1 - t0), y, args, term.contr(t0, t1))`, with
      the structure, shapes and dtypes of `y`.
    """
    control = term.contr(t0, t1)
    start, duration = jnp.asarray(t0), jnp.asarray(t1) - jnp.asarray(t0)

    def field(s: Scalar, y: PyTree[Array], args: PyTree) -> PyTree[Array]:
        return term.vf_prod(start + s * duration, y, args, control)

    return field


class AbstractSchemeSolver(diffrax.AbstractSolver):
    """A diffrax solver that takes one step of the imexjax solver `scheme` per diffrax step.

    Fixed steps unless `embedded` is set: then the step also returns the difference from one
    step of `embedded` (a lower-order scheme) as its error estimate, for adaptive stepping.
    Dense output is linear between steps (`diffrax.LocalLinearInterpolation`).

    Subclasses set `scheme` and define `scheme_inputs`.
    """

    term_structure: ClassVar = diffrax.AbstractTerm
    interpolation_cls: ClassVar[Callable[..., diffrax.LocalLinearInterpolation]] = diffrax.LocalLinearInterpolation
    scheme: ClassVar[solvers.AbstractSolver]
    embedded: ClassVar[solvers.AbstractSolver | None] = None

    def scheme_inputs(self, terms, t0, t1, args) -> tuple[PyTree, PyTree]:
        """The `terms` and `args` of `scheme.step` for the diffrax step from `t0` to `t1`, in its own time."""
        raise NotImplementedError

    def order(self, terms) -> int:
        return self.scheme.order

    def error_order(self, terms) -> int | None:
        return None if self.embedded is None else self.embedded.order + 1

    def init(self, terms, t0, t1, y0, args) -> None:
        return None

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        scheme_terms, scheme_args = self.scheme_inputs(terms, t0, t1, args)
        y1 = self.scheme.step(scheme_terms, 0.0, y0, scheme_args, 1.0)
        y_error = None
        if self.embedded is not None:
            # Under jit, XLA merges the stages the two schemes share (the same computations).
            y_lower = self.embedded.step(scheme_terms, 0.0, y0, scheme_args, 1.0)
            y_error = jax.tree.map(lambda high, low: high - low, y1, y_lower)
        return y1, y_error, dict(y0=y0, y1=y1), None, diffrax.RESULTS.successful
