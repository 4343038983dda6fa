"""Absolute stability: each solver's amplification factor on the test equation y' = lambda y."""

import dataclasses

import jax.numpy as jnp
import numpy as np

from .._custom_types import Scalar
from .._phi import PhiMethods, phi
from ..solvers import AbstractSolver, in_form


@dataclasses.dataclass(frozen=True)
class ScalarDiffusion(PhiMethods):
    """The linear term `A y = -alpha y` (L = alpha I), a stand-in for `ConvDiffusion` on the test equation.

    Its args are `alpha`, a scalar or an array that broadcasts against the state. It has the
    methods of both kinds of IMEX-type solvers: `mv` and `resolve` for the IMEX Runge-Kutta
    steps, `exp`, `phi1` and `phi2` for the exponential integrators.
    """

    def mv(self, y, alpha):
        """Returns `-alpha y`."""
        return -alpha * y

    def resolve(self, h: Scalar, b, alpha):
        r"""Returns $(I + h \alpha I)^{-1} b = b / (1 + h \alpha)$."""
        return b / (1 + h * alpha)

    def phi(self, index: int, h: Scalar, b, alpha):
        r"""Returns $\varphi_k(-h \alpha)\, b$, k = `index` (`exp`, `phi1` and `phi2` are k = 0, 1, 2)."""
        return phi(index, -h * alpha) * b


def amplification_factor(solver: AbstractSolver, z, *, h_alpha=0.0, imex_form: str = "paper") -> jnp.ndarray:
    r"""The factor R(z) with y[j+1] = R(z) y[j] when `solver` steps y' = lambda y, z = h lambda.

    Computed by running one `solver.step` (h = 1, y0 = 1) on the test equation, so it checks
    the solver's code rather than restating a formula. Closed forms: Euler 1 + z, midpoint
    1 + z + z^2/2, RK4 the degree-4 Taylor polynomial of exp(z), IMEX Euler with L = alpha I
    (`paper` form) (1 + z + h alpha) / (1 + h alpha); with `w = h alpha` and the explicit
    part `x` (`z + w` in the `paper` form, `z` in the `code` form), exponential Euler
    $a = e^{-w} + \varphi_1(-w)\, x$ (`paper`: $1 + \varphi_1(-w)\, z$) and ETDRK2 $a + \varphi_2(-w)\, x\, (a - 1)$,
    $\varphi_1(u) = (e^u - 1) / u$, $\varphi_2(u) = (e^u - 1 - u) / u^2$.

    Args:
      solver: any imexjax solver.
      z (complex | jax.Array): h lambda, complex, any shape.
      h_alpha (float | jax.Array): h alpha >= 0 of the implicit term L = alpha I; used by IMEX solvers only.
      imex_form: `paper` (the test equation is y' = lambda y exactly) or `code` (the authors'
        code: y' = (lambda - alpha) y, explicit lambda y, implicit -alpha y).

    Returns:
      Complex array of the shape of `z` (broadcast with `h_alpha`).

    Raises:
      ValueError: `imex_form` is unknown or `h_alpha` is negative.
    """
    stepper = in_form(solver, imex_form)
    if np.any(np.asarray(h_alpha) < 0):
        raise ValueError(f"h_alpha must be >= 0 (L = alpha I positive semi-definite), got {h_alpha}")
    z = jnp.asarray(z)
    z = z.astype(jnp.result_type(z.dtype, jnp.complex64))
    alpha = jnp.asarray(h_alpha, dtype=z.real.dtype)
    z, alpha = jnp.broadcast_arrays(z, alpha)
    y0 = jnp.ones_like(z)
    if not solver.imex:
        return solver.step(lambda t, y, lam: lam * y, 0.0, y0, z, 1.0)
    return stepper.step((lambda t, y, lam: lam * y, ScalarDiffusion()), 0.0, y0, (z, alpha), 1.0)


def stability_region(solver: AbstractSolver, z, *, h_alpha=0.0, imex_form: str = "paper") -> np.ndarray:
    """Whether each z = h lambda lies in the solver's region of absolute stability, |R(z)| <= 1.

    Args: as `amplification_factor`.

    Returns:
      A boolean numpy array of the broadcast shape of `z` and `h_alpha`.
    """
    factor = amplification_factor(solver, z, h_alpha=h_alpha, imex_form=imex_form)
    return np.asarray(jnp.abs(factor) <= 1 + 1e-6)
