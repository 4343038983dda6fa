"""imexjax's IMEX schemes as `diffrax.AbstractSolver`s on `MultiTerm(explicit, ConvDiffusionTerm)`."""

from collections.abc import Callable
from typing import ClassVar

import diffrax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from ..solvers._imex_rk2 import DELTA, GAMMA
from ..solvers._tree import axpy as _axpy
from ..solvers._tree import linear_combination as _combine
from ._term import ConvDiffusionTerm

_IMEXTerms = diffrax.MultiTerm[tuple[diffrax.AbstractTerm, ConvDiffusionTerm]]


def _conv_term(term: diffrax.AbstractTerm) -> ConvDiffusionTerm:
    """The `ConvDiffusionTerm` inside diffrax's wrappers (`WrapTerm`, which diffeqsolve adds)."""
    while not isinstance(term, ConvDiffusionTerm):
        inner = getattr(term, "term", None)
        if inner is None:
            raise TypeError(f"the implicit term must be an imexjax.diffrax.ConvDiffusionTerm, got {term!r}")
        term = inner
    return term


class _AbstractIMEX(diffrax.AbstractSolver):
    term_structure: ClassVar = _IMEXTerms
    interpolation_cls: ClassVar[Callable[..., diffrax.LocalLinearInterpolation]] = diffrax.LocalLinearInterpolation

    def init(self, terms, t0, t1, y0, args) -> None:
        return None

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        explicit, implicit = terms.terms
        y1 = self._step(explicit, implicit, _conv_term(implicit), t0, t1, y0, args)
        return y1, None, dict(y0=y0, y1=y1), None, diffrax.RESULTS.successful

    def _step(self, explicit, implicit, conv, t0, t1, y0, args) -> PyTree[Array]:
        raise NotImplementedError


class IMEXEuler(_AbstractIMEX):
    """IMEX Euler (forward Euler on the explicit term, backward Euler on the implicit one).

    `y1 = (I + dt C^T C)^{-1} (y0 + dt f(t0, y0, args))`: the step of `imexjax.IMEXEuler`,
    as a diffrax solver. Fixed steps only (no error estimate): use it with
    `diffrax.ConstantStepSize()` or `StepTo`. `terms = diffrax.MultiTerm(explicit,
    ConvDiffusionTerm(kernel))`; the implicit solve is the exact FFT resolvent.
    """

    def order(self, terms):
        return 1

    def _step(self, explicit, implicit, conv, t0, t1, y0, args):
        dt_explicit = explicit.contr(t0, t1)
        dt_implicit = implicit.contr(t0, t1)
        return conv.resolve(dt_implicit, _axpy(1.0, explicit.vf_prod(t0, y0, args, dt_explicit), y0))


class IMEXRK2(_AbstractIMEX):
    """ARS(2,2,2), the step of `imexjax.IMEXRK2`, as a diffrax solver.

    Second order, L-stable and stiffly accurate in the implicit term. Fixed steps only
    (no error estimate): use it with `diffrax.ConstantStepSize()` or `StepTo`.
    `terms = diffrax.MultiTerm(explicit, ConvDiffusionTerm(kernel))`; both implicit
    stages are exact FFT solves.
    """

    def order(self, terms):
        return 2

    def _step(self, explicit, implicit, conv, t0, t1, y0, args):
        dt_explicit = explicit.contr(t0, t1)
        scale = GAMMA * implicit.contr(t0, t1)
        k1 = explicit.vf_prod(t0, y0, args, dt_explicit)  # dt f(t0, y0)
        rhs2 = _axpy(GAMMA, k1, y0)
        y2 = conv.resolve(scale, rhs2)
        t2 = jnp.asarray(t0) + GAMMA * (jnp.asarray(t1) - jnp.asarray(t0))
        k2 = explicit.vf_prod(t2, y2, args, dt_explicit)
        gamma_dt_a_y2 = _combine(y2, (-1.0,), (rhs2,))  # = gamma dt A Y2
        rhs3 = _combine(y0, (DELTA, 1.0 - DELTA, (1.0 - GAMMA) / GAMMA), (k1, k2, gamma_dt_a_y2))
        return conv.resolve(scale, rhs3)
