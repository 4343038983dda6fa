r"""`ConvDiffusionTerm`: the diffrax term whose vector field is $-C^\top C y$."""

import diffrax
import equinox as eqx
import jax
from jaxtyping import Array, PyTree

from .._custom_types import Scalar
from .._phi import PhiMethods
from ..operators import ConvDiffusion


class ConvDiffusionTerm(PhiMethods, diffrax.AbstractTerm):
    r"""The linear ODE term $dy/dt = -C^\top C y$, $C$ a periodic depthwise k x k convolution.

    As `diffrax.ODETerm` (the control is `t1 - t0`), with the vector field of
    `imexjax.ConvDiffusion().mv(y, kernel)`. The state (every leaf of it) has shape
    (..., H, W, channels). Use it alone with diffrax's implicit solvers (`ImplicitEuler`,
    `Kvaerno3/4/5`) or as the implicit half of `diffrax.MultiTerm(explicit, implicit)`
    with `KenCarp3/4/5`, `Sil3`, `imexjax.diffrax.IMEXEuler`/`IMEXRK2` or the exponential
    integrators `imexjax.diffrax.ExpEuler`/`ETDRK2`; pass
    `root_finder=imexjax.diffrax.FFTNewton()` to diffrax's own implicit solvers.

    Attributes:
      kernel: shape (k, k, channels), k odd; differentiable (it is a pytree leaf).
      zero_mean: project each channel's kernel to zero mean before use (static).
    """

    kernel: Array
    zero_mean: bool = eqx.field(static=True, default=False)

    @property
    def operator(self) -> ConvDiffusion:
        return ConvDiffusion(zero_mean=self.zero_mean)

    def vf(self, t, y: PyTree[Array], args) -> PyTree[Array]:
        del t, args
        return jax.tree.map(lambda leaf: self.operator.mv(leaf, self.kernel), y)

    def contr(self, t0, t1, **kwargs):
        del kwargs
        return t1 - t0

    def prod(self, vf: PyTree[Array], control) -> PyTree[Array]:
        with jax.numpy_dtype_promotion("standard"):
            return jax.tree.map(lambda v: control * v, vf)

    def resolve(self, scale, b: PyTree[Array]) -> PyTree[Array]:
        r"""Returns $(I + s\, C^\top C)^{-1} b$ by FFT, $s$ = `scale` (a stage coefficient times the control)."""
        return jax.tree.map(lambda leaf: self.operator.resolve(scale, leaf, self.kernel), b)

    def phi(self, index: int, scale: Scalar, b: PyTree[Array]) -> PyTree[Array]:
        r"""Returns $\varphi_k(-s\, C^\top C)\, b$ by FFT, k = `index`, $s$ = `scale`, leaf by leaf.

        `exp`, `phi1` and `phi2` (from `imexjax._phi.PhiMethods`) are this method at k = 0, 1, 2.

        Args:
          index: k, an int >= 0 ($\varphi_0 = \exp$).
          scale: $s$, a stage coefficient times the control, >= 0.
          b: a pytree whose leaves have shape (..., H, W, channels).

        Returns:
          A pytree of the structure, shapes and dtypes of `b`; see `imexjax.ConvDiffusion.phi`.
        """
        return jax.tree.map(lambda leaf: self.operator.phi(index, scale, leaf, self.kernel), b)
