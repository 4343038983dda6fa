r"""imexjax's IMEX-type solvers as `diffrax.AbstractSolver`s on `MultiTerm(explicit, ConvDiffusionTerm)`.

Each adapter runs its scheme's own `step` (`imexjax.IMEXEuler`, `imexjax.IMEXRK2`,
`imexjax.ExpEuler`, `imexjax.ETDRK2`), so the stages are written once (`AbstractSchemeSolver`).
A diffrax step from `t0` to `t1` is one step of size 1 in the step's own time
`s = (t - t0) / (t1 - t0)`, in which the explicit field is the term's increment
`vf_prod(t0 + s (t1 - t0), y, args, control)` and the implicit term is $u\, (-C^\top C)$,
$u$ = `control`, whose resolvent at `s` is `ConvDiffusionTerm.resolve(s * control, .)` and
whose phi functions are its `phi(k, s * control, .)`.
"""

import dataclasses
from typing import ClassVar

import diffrax
from jaxtyping import Array, PyTree

from .. import solvers
from .._custom_types import Scalar
from .._phi import PhiMethods
from ._scheme import AbstractSchemeSolver, step_time_field
from ._term import ConvDiffusionTerm


def _explicit_and_implicit(terms: diffrax.AbstractTerm) -> tuple[diffrax.AbstractTerm, diffrax.AbstractTerm]:
    """The two terms of `MultiTerm(explicit, implicit)`.

    Raises:
      TypeError: `terms` is not a `diffrax.MultiTerm`.
      ValueError: it holds other than two terms.
    """
    expected = "MultiTerm(explicit_term, imexjax.diffrax.ConvDiffusionTerm(kernel)) of two terms"
    if not isinstance(terms, diffrax.MultiTerm):
        raise TypeError(f"the IMEX solvers take terms={expected}; got {type(_unwrapped(terms)).__name__}")
    if len(terms.terms) != 2:
        raise ValueError(f"the IMEX solvers take terms={expected}; got {len(terms.terms)}")
    return terms.terms


def _unwrapped(term: diffrax.AbstractTerm) -> diffrax.AbstractTerm:
    """The term inside diffrax's wrappers (`WrapTerm`, which diffeqsolve adds)."""
    while not isinstance(term, ConvDiffusionTerm) and getattr(term, "term", None) is not None:
        term = term.term
    return term


def _conv_term(term: diffrax.AbstractTerm) -> ConvDiffusionTerm:
    """The `ConvDiffusionTerm` inside diffrax's wrappers.

    Raises:
      TypeError: there is none.
    """
    term = _unwrapped(term)
    if not isinstance(term, ConvDiffusionTerm):
        raise TypeError(f"the implicit term must be an imexjax.diffrax.ConvDiffusionTerm, got {term!r}")
    return term


@dataclasses.dataclass(frozen=True)
class _StepTimeDiffusion(PhiMethods):
    r"""The linear term $u\, (-C^\top C)$, $u$ = `control`, of one diffrax step, in the step's own time.

    Attributes:
      term: the `ConvDiffusionTerm` giving `C`.
      control: the implicit term's control over the step (`t1 - t0`, signed).
    """

    term: ConvDiffusionTerm
    control: Scalar

    def mv(self, y: PyTree[Array], args: None) -> PyTree[Array]:
        r"""Returns $-u\, C^\top C y$, leaf by leaf."""
        return self.term.prod(self.term.vf(None, y, args), self.control)

    def resolve(self, s: Scalar, b: PyTree[Array], args: None) -> PyTree[Array]:
        r"""Returns $(I + s u\, C^\top C)^{-1} b$, leaf by leaf, by FFT."""
        return self.term.resolve(s * self.control, b)

    def phi(self, index: int, s: Scalar, b: PyTree[Array], args: None) -> PyTree[Array]:
        r"""Returns $\varphi_k(-s u\, C^\top C)\, b$, k = `index`, leaf by leaf, by FFT (`exp`: k = 0, ...)."""
        return self.term.phi(index, s * self.control, b)


class _AbstractIMEX(AbstractSchemeSolver):
    """A diffrax solver that takes one step of the IMEX-type `scheme` per diffrax step (fixed steps only)."""

    # Any term passes diffrax's structural check, whose mismatches are bare assertions; `init`
    # and `step` check for MultiTerm(explicit, ConvDiffusionTerm) with messages of their own.

    def init(self, terms, t0, t1, y0, args) -> None:
        _conv_term(_explicit_and_implicit(terms)[1])
        return None

    def scheme_inputs(self, terms, t0, t1, args):
        explicit, implicit = _explicit_and_implicit(terms)
        linear = _StepTimeDiffusion(_conv_term(implicit), implicit.contr(t0, t1))
        return (step_time_field(explicit, t0, t1), linear), (args, None)


class IMEXEuler(_AbstractIMEX):
    r"""IMEX Euler (forward Euler on the explicit term, backward Euler on the implicit one).

    $y_1 = (I + \Delta t\, C^\top C)^{-1} (y_0 + \Delta t\, f(t_0, y_0))$ (`f` also takes `args`):
    the step of `imexjax.IMEXEuler`, as a diffrax solver. Fixed steps only (no error estimate):
    use it with `diffrax.ConstantStepSize()` or `StepTo`.
    `terms = diffrax.MultiTerm(explicit, ConvDiffusionTerm(kernel))`; the implicit solve is the exact FFT resolvent.
    """

    scheme: ClassVar[solvers.AbstractSolver] = solvers.IMEXEuler()


class IMEXRK2(_AbstractIMEX):
    """ARS(2,2,2), the step of `imexjax.IMEXRK2`, as a diffrax solver.

    Second order, L-stable and stiffly accurate in the implicit term. Fixed steps only
    (no error estimate): use it with `diffrax.ConstantStepSize()` or `StepTo`.
    `terms = diffrax.MultiTerm(explicit, ConvDiffusionTerm(kernel))`; both implicit
    stages are exact FFT solves.
    """

    scheme: ClassVar[solvers.AbstractSolver] = solvers.IMEXRK2()


class ExpEuler(_AbstractIMEX):
    r"""Exponential Euler (ETD1), the step of `imexjax.ExpEuler`, as a diffrax solver.

    $y_1 = \exp(-\Delta t\, C^\top C)\, y_0 + \Delta t\, \varphi_1(-\Delta t\, C^\top C)\, f(t_0, y_0)$,
    $\varphi_1(z) = (e^z - 1) / z$:
    the diffusion is integrated exactly. Fixed steps only (no error estimate): use it with
    `diffrax.ConstantStepSize()` or `StepTo`. `terms = diffrax.MultiTerm(explicit,
    ConvDiffusionTerm(kernel))`; every product is one FFT round trip.
    """

    scheme: ClassVar[solvers.AbstractSolver] = solvers.ExpEuler()


class ETDRK2(_AbstractIMEX):
    """Cox and Matthews' ETD2RK, the step of `imexjax.ETDRK2`, as a diffrax solver.

    Second order, the diffusion integrated exactly. Fixed steps only (no error estimate):
    use it with `diffrax.ConstantStepSize()` or `StepTo`. `terms = diffrax.MultiTerm(explicit,
    ConvDiffusionTerm(kernel))`; every product is one FFT round trip.
    """

    scheme: ClassVar[solvers.AbstractSolver] = solvers.ETDRK2()
