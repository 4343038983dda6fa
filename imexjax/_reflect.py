r"""Reflecting boundaries: the depthwise correlation of a doubly symmetric kernel, diagonal in the DCT-II.

With `y` extended beyond the grid as `numpy.pad(y, r, mode="symmetric")` does (the edge sample
repeated: `y[-1 - m] = y[m]`, `y[H + m] = y[H - 1 - m]`, and so on periodically with period 2H),
`C` is the cross-correlation of the extended array, kept on the grid:

    (C y)[i, j, c] = sum_{a, b} kernel[a, b, c] * y_ext[i + a - r, j + b - r, c],   r = k // 2.

The extension is even about i = -1/2 and i = H - 1/2, so each DCT-II basis function
`cos(pi p (i + 1/2) / H)` is mapped to itself times

    lambda(p) = sum_a w[a] cos(pi p (a - r) / H)

when the 1-D kernel `w` is symmetric (`w[a] = w[k - 1 - a]`; the sine terms cancel in pairs).
In 2-D the basis is the product of the two, and a kernel symmetric under both flips
(`kernel[a, b] = kernel[k - 1 - a, b] = kernel[a, k - 1 - b]`) has the eigenvalues
`lambda(p, q) = sum_{a, b} kernel[a, b] cos(pi p (a - r) / H) cos(pi q (b - r) / W)`. `C` is then
symmetric, $C^\top C = C^2$ has the eigenvalues $\lambda^2$, and any function of it is a product
between the orthonormal DCT-II over (H, W) and its inverse (`dct_grid`, `idct_grid`). Any k <= min(H, W) works: the
extension is defined for every pad width, and the identity above does not depend on it.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._sine import grid_product

_SYMMETRY_RTOL = 1e-6
"""A concrete kernel is symmetric when each flip differs from it by at most this times its largest entry."""


def symmetric_kernel(quarter: jax.Array) -> jax.Array:
    """Expands free parameters into a kernel symmetric under both flips, the kernels `boundary="reflect"` takes.

    `quarter[a, b]` is the kernel's entry `(a, b)` for `a, b <= r`, the top-left quarter with its
    centre row and column; the rest is its mirror image: `kernel[a, b] = quarter[min(a, k-1-a), min(b, k-1-b)]`.

    Args:
      quarter: shape (r + 1, r + 1, channels): (r + 1)^2 free parameters per channel.

    Returns:
      A kernel of shape (2r + 1, 2r + 1, channels) and the dtype of `quarter`.

    Raises:
      ValueError: `quarter` is not of shape (r + 1, r + 1, channels).
    """
    shape = jnp.shape(quarter)
    if len(shape) != 3 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"quarter must have shape (r + 1, r + 1, channels), got {shape}")
    rows = jnp.concatenate([quarter, quarter[-2::-1]], axis=0)
    return jnp.concatenate([rows, rows[:, -2::-1]], axis=1)


def symmetric_part(kernel: jax.Array) -> jax.Array:
    """The mean of a kernel (k, k, C) over its four flips: the kernel itself when it is doubly symmetric."""
    flipped = kernel + kernel[::-1]
    return 0.25 * (flipped + flipped[:, ::-1])


def check_symmetric(kernel: jax.Array, argument: str = "kernel", *, boundary: str = "reflect") -> None:
    """Raises ValueError if a concrete kernel is not symmetric under both flips; traced ones pass.

    Args:
      kernel: shape (k, k, C), or a stack of kernels (..., k, k, C), each checked against its
        own largest entry.
      argument: the name of `kernel` in the caller's signature, for the message.
      boundary: the boundary whose operator needs the symmetry, for the message.
    """
    if isinstance(kernel, jax.core.Tracer):
        return
    values = np.asarray(kernel, dtype=np.float64)
    tolerance = _SYMMETRY_RTOL * np.max(np.abs(values), axis=(-3, -2, -1), keepdims=True, initial=0.0)
    for axis, name in ((-3, "rows"), (-2, "columns")):
        asymmetric = np.abs(values - np.flip(values, axis)) > tolerance
        if np.any(asymmetric):
            where = "".join(f"[{i}]" for i in np.argwhere(asymmetric)[0][:-3])
            operator = f"boundary={boundary!r}" + ("" if boundary == "reflect" else " with symmetric=True")
            raise ValueError(
                f"{operator} needs a kernel symmetric under flipping its {name} "
                f"(kernel[a, b] = kernel[k-1-a, b] = kernel[a, k-1-b]), and {argument}{where} is not; "
                "build it with imexjax.symmetric_kernel"
            )


def reflect_eigenvalues(kernel: jax.Array, height: int, width: int) -> jax.Array:
    """The eigenvalues `lambda(p, q)` of `C` in the DCT-II basis, shape (H, W, C) (see the module docstring).

    Args:
      kernel: shape (k, k, C), symmetric under both flips.
      height: H.
      width: W.
    """
    k = kernel.shape[0]
    offsets = np.arange(k) - k // 2
    cos_h = np.cos(np.pi * np.outer(np.arange(height), offsets) / height)  # (H, k)
    cos_w = np.cos(np.pi * np.outer(np.arange(width), offsets) / width)  # (W, k)
    dtype = kernel.dtype
    return jnp.einsum("pa,abc,qb->pqc", cos_h.astype(dtype), kernel, cos_w.astype(dtype))


def dct_grid(y: jax.Array) -> jax.Array:
    """The orthonormal DCT-II over (H, W) of `y` (..., H, W, C); 16-bit floats are transformed in float32.

    Two matrix products (`imexjax._sine.grid_product`), as the sine transform: on CPU they
    measured faster than `jax.scipy.fft.dctn`, which builds the DCT from complex FFTs one axis
    at a time.
    """
    y = y.astype(jnp.promote_types(y.dtype, jnp.float32))
    rows, columns = (jnp.asarray(cosine_matrix(n), y.dtype) for n in (y.shape[-3], y.shape[-2]))
    return grid_product(rows, columns, y)


def idct_grid(y_hat: jax.Array, like: jax.Array) -> jax.Array:
    """The inverse of `dct_grid` (the transposed matrices: the DCT-II is orthonormal), cast to the dtype of `like`."""
    rows, columns = (jnp.asarray(cosine_matrix(n).T, y_hat.dtype) for n in (y_hat.shape[-3], y_hat.shape[-2]))
    return grid_product(rows, columns, y_hat).astype(like.dtype)


def cosine_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix of size n, float64: `D[p, i] = s_p cos(pi p (i + 1/2) / n)`, `D^T D = I`."""
    scales = np.full(n, np.sqrt(2.0 / n))
    scales[0] = np.sqrt(1.0 / n)
    return scales[:, None] * np.cos(np.pi * np.outer(np.arange(n), np.arange(n) + 0.5) / n)
