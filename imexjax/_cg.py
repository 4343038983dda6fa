"""`ScaledCG`: lineax's preconditioned conjugate gradients, stopped relative to the largest entry of the right side.

Imported only when a `boundary="zero"` solve runs, so that `import imexjax` does not import lineax.
"""

from typing import Any

import jax
import jax.numpy as jnp
import lineax as lx


class ScaledCG(lx.AbstractLinearSolver):
    """`lineax.CG` on `A x = b / s`, `s = max |b|`, then `x s`: a stopping rule that no scale of `b` changes.

    CG stops when `|r_i| <= tol (1 + |b_i| / s) s` for every residual entry and the last update
    is as small relative to `x`, or after `max_steps` iterations; either way the iterate is
    returned (never an error), so a solve that cannot reach `tol` in float32 does not stop a
    training run. `lineax.linear_solve` differentiates through this solver implicitly: the
    tangent and transposed solves are further solves with it, each scaled by its own right
    side (a cotangent of 1e-8 is solved to the same relative accuracy as a state of 1).

    Attributes:
      tol: the tolerance, relative to `max |b|`.
      max_steps: the most CG iterations of one solve.
    """

    tol: float
    max_steps: int

    def _cg(self) -> lx.CG:
        return lx.CG(rtol=self.tol, atol=self.tol, max_steps=self.max_steps)

    def init(self, operator: lx.AbstractLinearOperator, options: dict[str, Any]):
        return self._cg().init(operator, options)

    def compute(self, state, vector: jax.Array, options: dict[str, Any]):
        scale = jax.lax.stop_gradient(jnp.max(jnp.abs(vector)))
        scale = jnp.where(scale > 0, scale, jnp.ones_like(scale))
        solution, _, stats = self._cg().compute(state, vector / scale, options)
        return solution * scale, lx.RESULTS.successful, stats

    def transpose(self, state, options: dict[str, Any]):
        return self._cg().transpose(state, options)

    def conj(self, state, options: dict[str, Any]):
        return self._cg().conj(state, options)

    def assume_full_rank(self) -> bool:
        return True
