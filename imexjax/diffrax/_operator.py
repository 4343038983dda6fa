r"""lineax operators for the periodic depthwise convolution $C$ and for $\alpha I + \beta C^\top C$."""

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, ArrayLike

from ..operators import ConvDiffusion, check_kernel


def _structure(structure) -> jax.ShapeDtypeStruct:
    """`structure` (a `jax.ShapeDtypeStruct` or an array) as a `jax.ShapeDtypeStruct`."""
    return jax.ShapeDtypeStruct(jnp.shape(structure), jnp.result_type(structure))


def _dense(operator: lx.AbstractLinearOperator) -> Array:
    """The (N, N) matrix of `operator`, N = H W C, states flattened in row-major order: one `mv` per column."""
    structure = operator.in_structure()
    size = structure.size
    basis = jnp.eye(size, dtype=structure.dtype)
    return jax.vmap(lambda e: operator.mv(e.reshape(structure.shape)).reshape(-1), out_axes=1)(basis)


class ConvOperator(lx.AbstractLinearOperator):
    """`C`: the periodic depthwise k x k cross-correlation of `imexjax.ConvDiffusion`, as a lineax operator.

        (C y)[..., i, j, c] = sum_{a, b} kernel[a, b, c] y[..., (i + a - k//2) mod H, (j + b - k//2) mod W, c]

    on states of shape (..., H, W, channels). `mv` sums k^2 shifted copies (the definition);
    `transpose()` is the correlation with the kernel flipped in both axes; `as_matrix()`
    builds the dense (N, N) matrix, N = H W C, for tests on small grids only.

    Attributes:
      kernel: shape (k, k, channels), k odd; differentiable.
      structure: the state's `jax.ShapeDtypeStruct` (an array is accepted and read for
        its shape and dtype); static.
    """

    kernel: Array
    structure: jax.ShapeDtypeStruct = eqx.field(static=True)

    def __init__(self, kernel: ArrayLike, structure):
        self.kernel = jnp.asarray(kernel)
        self.structure = _structure(structure)
        check_kernel(self.structure, self.kernel)

    def mv(self, vector: Array) -> Array:
        k = self.kernel.shape[0]
        half = k // 2
        out = jnp.zeros_like(vector)
        with jax.numpy_dtype_promotion("standard"):
            for a in range(k):
                for b in range(k):
                    shifted = jnp.roll(vector, (half - a, half - b), axis=(-3, -2))
                    out = out + (self.kernel[a, b] * shifted).astype(vector.dtype)
        return out

    def as_matrix(self) -> Array:
        return _dense(self)

    def transpose(self) -> "ConvOperator":
        return ConvOperator(self.kernel[::-1, ::-1], self.structure)

    def in_structure(self) -> jax.ShapeDtypeStruct:
        return self.structure

    def out_structure(self) -> jax.ShapeDtypeStruct:
        return self.structure


class ConvDiffusionOperator(lx.AbstractLinearOperator):
    r"""$\alpha I + \beta C^\top C$ ($\alpha$ = `shift`, $\beta$ = `scale`), as a lineax operator.

    $C$ is as in `ConvOperator`; the operator is symmetric positive semidefinite.

    With `shift = 1` and `scale = gamma dt` it is the matrix of an implicit stage of
    $dy/dt = -C^\top C y$ (`imexjax.diffrax.ConvDiffusionTerm`); with `shift = 0, scale = 1` it
    is $C^\top C$. `mv` is one FFT round trip (`imexjax.ConvDiffusion.mv`); solve it with
    `imexjax.diffrax.FFTLinearSolver`:

        op = ConvDiffusionOperator(kernel, y, scale=0.5)
        x = lineax.linear_solve(op, b, FFTLinearSolver()).value   # (I + 0.5 C^T C)^{-1} b

    differentiable in `b`, `kernel`, `scale` and `shift`. Tagged symmetric and positive
    semidefinite, which holds for `shift >= 0` and `scale >= 0` (checked when they are
    concrete); `as_matrix()` builds the dense (N, N) matrix, for tests on small grids only.

    Attributes:
      kernel: shape (k, k, channels), k odd; differentiable.
      structure: the state's `jax.ShapeDtypeStruct` (an array is accepted); static.
      scale: the factor of $C^\top C$, >= 0; differentiable.
      shift: the factor of the identity, >= 0; differentiable.
      zero_mean: project each channel's kernel to zero mean first, as
        `imexjax.ConvDiffusion(zero_mean=True)`; static.
    """

    kernel: Array
    structure: jax.ShapeDtypeStruct = eqx.field(static=True)
    scale: Array
    shift: Array
    zero_mean: bool = eqx.field(static=True)

    def __init__(
        self, kernel: ArrayLike, structure, *, scale: ArrayLike = 1.0, shift: ArrayLike = 1.0, zero_mean: bool = False
    ):
        self.kernel = jnp.asarray(kernel)
        self.structure = _structure(structure)
        check_kernel(self.structure, self.kernel)
        for name, value in (("scale", scale), ("shift", shift)):
            if not isinstance(value, jax.core.Tracer) and np.any(np.asarray(value) < 0):
                raise ValueError(f"{name} must be >= 0 for a positive semidefinite operator, got {value}")
        self.scale = jnp.asarray(scale)
        self.shift = jnp.asarray(shift)
        self.zero_mean = zero_mean

    def mv(self, vector: Array) -> Array:
        laplacian = ConvDiffusion(zero_mean=self.zero_mean).mv(vector, self.kernel)  # -C^T C v
        with jax.numpy_dtype_promotion("standard"):
            return (self.shift * vector - self.scale * laplacian).astype(vector.dtype)

    def as_matrix(self) -> Array:
        return _dense(self)

    def transpose(self) -> "ConvDiffusionOperator":
        return self

    def in_structure(self) -> jax.ShapeDtypeStruct:
        return self.structure

    def out_structure(self) -> jax.ShapeDtypeStruct:
        return self.structure


def _prepared(operator: ConvDiffusionOperator) -> Array:
    """The kernel the operator applies: projected to zero mean per channel if `zero_mean`."""
    if operator.zero_mean:
        return operator.kernel - jnp.mean(operator.kernel, axis=(0, 1), keepdims=True)
    return operator.kernel


def _broadcast(per_channel: Array, structure: jax.ShapeDtypeStruct) -> Array:
    """A per-channel value broadcast over a state and flattened like `as_matrix` (length N)."""
    return jnp.broadcast_to(per_channel, structure.shape).astype(structure.dtype).reshape(-1)


@lx.diagonal.register(ConvOperator)
def _(operator):
    half = operator.kernel.shape[0] // 2
    return _broadcast(operator.kernel[half, half], operator.structure)  # k <= min(H, W): one tap on the diagonal


@lx.diagonal.register(ConvDiffusionOperator)
def _(operator):
    with jax.numpy_dtype_promotion("standard"):
        column_norms = jnp.sum(_prepared(operator) ** 2, axis=(0, 1))  # (C^T C)_{pp} = |column p of C|^2
        return _broadcast(operator.shift + operator.scale * column_norms, operator.structure)


# The rest of what lineax asks each operator type, through its single-dispatch functions.
for _cls in (ConvOperator, ConvDiffusionOperator):
    lx.linearise.register(_cls)(lambda operator: operator)
    lx.materialise.register(_cls)(lambda operator: operator)
    lx.conj.register(_cls)(lambda operator: operator)  # real
    for _query in (
        lx.is_diagonal,
        lx.is_tridiagonal,
        lx.has_unit_diagonal,
        lx.is_lower_triangular,
        lx.is_upper_triangular,
        lx.is_negative_semidefinite,
    ):
        _query.register(_cls)(lambda operator: False)
for _query in (lx.is_symmetric, lx.is_positive_semidefinite):
    _query.register(ConvOperator)(lambda operator: False)
    _query.register(ConvDiffusionOperator)(lambda operator: True)
