r"""`ConvDiffusion`: the linear term $-C^\top C$ of IMEXnet, its resolvent and exponentials, on three boundaries.

`C` is a depthwise (one k x k kernel per channel) cross-correlation acting on arrays of shape
(..., H, W, channels), r = k // 2:

    (C y)[i, j, c] = sum_{a, b} kernel[a, b, c] * y[i + a - r, j + b - r, c]

where `y` off the grid is given by the boundary:

- `periodic` (the default): `y[(i) mod H, (j) mod W]`. `C` is diagonalised by the 2-D DFT, so
  $(I + h C^\top C)^{-1}$ is a division in Fourier space: $\mathcal{F}^{-1}(\mathcal{F} b / (1 + h |\hat c|^2))$
  ($\mathcal{F}$ the DFT), $\hat c$ the DFT of the kernel embedded in the H x W grid with its centre
  at index (0, 0). The
  same diagonalisation gives the exponential $\exp(-h C^\top C)$ and the phi functions of
  exponential integrators.
- `zero`: `y = 0` off the grid (`lax.conv` with SAME padding). `mv` is two correlations. For
  3x3 kernels symmetric under both flips (`symmetric=True`) `C` is diagonal in the type-I
  discrete sine transform, so `resolve`, `exp` and the phi functions are products between two
  DST-Is, exact (`_sine`); for other kernels `resolve` is preconditioned conjugate gradients
  (`_zero_padding`), and there is no `exp` or phi function.
- `reflect`: `y` mirrored about its edges with the edge sample repeated
  (`numpy.pad(mode="symmetric")`). For kernels symmetric under both flips `C` is symmetric and
  diagonal in the DCT-II, so every method is a product between the DCT-II and its inverse (`_reflect`).

The periodic transforms (`kernel_spectrum`, `kernel_power`, `fft_channels`, `ifft_channels`,
from `imexjax._fourier`, importable from here) are their one implementation: `ConvDiffusion`
and `imexjax.diffrax.FFTNewton` both solve through them.
"""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import Scalar
from ._errors import ArgumentError
from ._fourier import fft_channels as fft_channels
from ._fourier import ifft_channels as ifft_channels
from ._fourier import kernel_power as kernel_power
from ._fourier import kernel_spectrum as kernel_spectrum
from ._phi import phi
from ._reflect import check_symmetric, dct_grid, idct_grid, reflect_eigenvalues, symmetric_part
from ._sine import EXACT_KERNEL_SIZE, dst_grid, sine_eigenvalues
from ._zero_padding import cg_resolve, normal_zero

BOUNDARIES: tuple[str, ...] = ("periodic", "zero", "reflect")
"""The boundaries `ConvDiffusion` takes; `exp`, `phi1` and `phi2` exist for all but general `zero` kernels."""


EXPONENTIAL_METHODS: tuple[str, ...] = ("exp", "phi1", "phi2")
"""The methods of `ConvDiffusion` that the `zero` boundary has only for small symmetric kernels."""


def check_boundary(
    boundary: str, methods: tuple[str, ...] = (), *, symmetric: bool = False, kernel_size: int | None = None
) -> None:
    """Raises `ArgumentError` (a ValueError) on `boundary` unless it is in `BOUNDARIES` and has `methods`.

    Args:
      boundary: a boundary name.
      methods: methods of `ConvDiffusion` a solver needs (its `linear_methods`).
      symmetric: the kernels are symmetric under both flips (`ConvDiffusion(symmetric=True)`).
      kernel_size: the kernels' k, where known.
    """
    if not isinstance(boundary, str) or boundary not in BOUNDARIES:
        raise ArgumentError("boundary", f"unknown boundary {boundary!r}; choose one of {', '.join(BOUNDARIES)}")
    exact = symmetric and (kernel_size is None or kernel_size <= EXACT_KERNEL_SIZE)
    lacking = [method for method in methods if boundary == "zero" and not exact and method in EXPONENTIAL_METHODS]
    if lacking:
        raise ArgumentError(
            "boundary",
            f"boundary 'zero' has an exponential ({', '.join(lacking)}, which this integrator needs) only for "
            f"kernels of size <= {EXACT_KERNEL_SIZE} symmetric under both flips, got "
            + (f"size {kernel_size}" if symmetric else "a general kernel")
            + "; use a 3x3 symmetric kernel, boundary 'periodic' or 'reflect', or an IMEX integrator (imex, imex2)",
        )


@dataclasses.dataclass(frozen=True)
class ConvDiffusion:
    r"""The linear term $A y = -C^\top C y$, symmetric negative semi-definite.

    Its args are a kernel of shape (k, k, channels), k odd and <= min(H, W), one k x k filter
    per channel. `resolve` computes $(I - h A)^{-1} b = (I + h C^\top C)^{-1} b$; `exp`, `phi1` and
    `phi2` compute $\varphi_k(h A)\, b$ ($\varphi_0 = \exp$, $\varphi_1(z) = (e^z - 1) / z$,
    $\varphi_2(z) = (e^z - 1 - z) / z^2$) for exponential integrators. How each is computed depends
    on the boundary (see the module docstring):

    - `periodic`: every method by rfft2/irfft2, exact; any kernel.
    - `zero`: `mv` by two correlations, exact. With `symmetric=True` and k <= 3, every method
      by two DST-Is, exact. Otherwise `resolve` by preconditioned CG to `tol`, and `exp`,
      `phi1`, `phi2` raise ValueError. Any kernel.
    - `reflect`: every method by DCT-II/inverse over (H, W), exact, for kernels symmetric under
      both flips (`kernel[a, b] = kernel[k-1-a, b] = kernel[a, k-1-b]`; build them with
      `imexjax.symmetric_kernel`). A concrete kernel that is not raises ValueError; a traced
      kernel (under `jit`, `grad`, `vmap`) cannot be checked, and the operator uses its
      symmetric part, the mean over its four flips, as `zero_mean` uses the projected kernel.
      Gradients with respect to the kernel are then symmetric too.

    Attributes:
      symmetric: use each kernel's symmetric part (the mean over its four flips); a concrete
        kernel that is not symmetric under both flips raises ValueError, a traced one cannot
        be checked (see `reflect` above). None, the default, is True for `reflect` (which needs
        it) and False for `periodic` and `zero`. With `zero` it makes 3x3 solves exact.
      zero_mean: project each channel's kernel to zero mean before use (as the IMEXnet
        authors do), so that `C` annihilates constants (all boundaries but `zero`, whose `C`
        sees the zeros beyond the edge) and `resolve` keeps each channel's spatial mean.
      boundary: `periodic`, `zero` or `reflect` (`BOUNDARIES`).
      tol: `zero` only: CG stops when every residual entry is below `tol` times the largest
        entry of the right side, and the last update is as small (see `imexjax._cg.ScaledCG`).
        The default 1e-5 is about 100 float32 ulps: float32 residuals level off near 1e-5 at
        $h \max |\hat c|^2 = 100$ and 3e-5 at 1000 (measured, `benchmarks/README.md`), so a tighter
        float32 solve spends its iterations on rounding. Use ~1e-12 in float64.
      max_steps: `zero` only: the most CG iterations of one solve; the iterate is returned
        when they are spent (never an error, see `cg_steps`).
    """

    zero_mean: bool = False
    boundary: str = "periodic"
    tol: float = 1e-5
    max_steps: int = 200
    symmetric: bool | None = None

    def __post_init__(self):
        check_boundary(self.boundary)
        if self.symmetric not in (None, True, False):
            raise ValueError(f"symmetric must be True, False or None, got {self.symmetric!r}")
        if self.boundary == "reflect" and self.symmetric is False:
            raise ValueError(
                "boundary='reflect' needs kernels symmetric under both flips; leave symmetric at None (or True)"
            )
        if isinstance(self.tol, bool) or not isinstance(self.tol, (int, float)) or not 0 < self.tol < 1:
            raise ValueError(f"tol must be a number in (0, 1), got {self.tol!r}")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, (int, np.integer)) or self.max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {self.max_steps!r}")

    def mv(self, y: jax.Array, kernel: jax.Array) -> jax.Array:
        r"""Returns $-C^\top C y$: by rfft2/irfft2 (`periodic`), two correlations (`zero`) or DCT-II (`reflect`).

        Args:
          y: an array of shape (..., H, W, channels).
          kernel: an array of shape (k, k, channels).

        Returns:
          An array with the shape and dtype of `y`.
        """
        if self.boundary == "zero":
            kernel = self._prepare(y, kernel)
            compute_dtype = jnp.promote_types(y.dtype, jnp.float32)
            return (-normal_zero(y.astype(compute_dtype), kernel.astype(compute_dtype))).astype(y.dtype)
        return self._apply_spectral(y, kernel, lambda power: -power)

    def resolve(self, h: Scalar, b: jax.Array, kernel: jax.Array) -> jax.Array:
        r"""Returns $(I + h C^\top C)^{-1} b$: by rfft2 (`periodic`), DST-I or CG (`zero`), or DCT-II (`reflect`).

        The kernel's spectrum is computed once and broadcast over the leading axes of `b`.
        bfloat16 and float16 inputs are solved in float32 and cast back. With `zero` and a
        general or larger-than-3x3 kernel, each image and channel is a preconditioned CG solve
        accurate to `tol` relative to its `max |b|` (`imexjax._zero_padding.cg_resolve`); its
        gradients are further CG solves (implicit differentiation), not a derivative of the
        iterations.

        Args:
          h: the step size, >= 0 (then $I + h C^\top C$ is invertible).
          b: an array of shape (..., H, W, channels).
          kernel: an array of shape (k, k, channels).

        Returns:
          An array with the shape and dtype of `b`.
        """
        if self.boundary == "zero" and not self._sine_exact(kernel):
            return self._cg_resolve(h, b, kernel)[0]
        return self._apply_spectral(b, kernel, lambda power: 1.0 / (1.0 + h * power))

    @property
    def kernel_symmetric(self) -> bool:
        """Whether the operator uses its kernels' symmetric parts: `symmetric`, or the boundary's default."""
        return self.boundary == "reflect" if self.symmetric is None else self.symmetric

    def _sine_exact(self, kernel: jax.Array) -> bool:
        """`zero` with a symmetric kernel of size <= 3: every method is exact by the sine transform."""
        return self.kernel_symmetric and jnp.shape(kernel)[0] <= EXACT_KERNEL_SIZE

    def cg_steps(self, h: Scalar, b: jax.Array, kernel: jax.Array) -> jax.Array:
        """The number of CG iterations `resolve(h, b, kernel)` takes with `boundary="zero"`, an int32 scalar.

        Equal to `max_steps` when the solve stopped short of `tol`.

        Raises:
          ValueError: the solve is direct: the boundary is not `zero`, or the kernel is symmetric
            and of size <= 3.
        """
        if self.boundary != "zero":
            raise ValueError(f"cg_steps needs boundary='zero'; boundary={self.boundary!r} solves directly")
        if self._sine_exact(kernel):
            raise ValueError("cg_steps needs a general kernel; a symmetric 3x3 zero-boundary kernel solves directly")
        return self._cg_resolve(h, b, kernel)[1]

    def _cg_resolve(self, h: Scalar, b: jax.Array, kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
        kernel = self._prepare(b, kernel)
        compute_dtype = jnp.promote_types(b.dtype, jnp.float32)
        x, steps = cg_resolve(
            h,
            b.astype(compute_dtype),
            kernel.astype(compute_dtype),
            symmetric=self.kernel_symmetric,
            tol=self.tol,
            max_steps=self.max_steps,
        )
        return x.astype(b.dtype), steps

    def phi(self, index: int, h: Scalar, b: jax.Array, kernel: jax.Array) -> jax.Array:
        r"""Returns $\varphi_k(-h C^\top C)\, b$, k = `index`, by rfft2/irfft2, DST-I (`zero`) or DCT-II (`reflect`).

        $\varphi_0 = \exp$, $\varphi_1(z) = (e^z - 1) / z$, $\varphi_2(z) = (e^z - 1 - z) / z^2$, and
        $\varphi_k(0) = 1 / k!$. Each Fourier (or cosine) mode is multiplied by
        $\varphi_k(-h |\hat c|^2)$ (`imexjax._phi.phi`: a series near 0, closed forms elsewhere), so
        `h = 0` and modes in the kernel's null space give `b / k!`, with finite values and
        gradients for every `h >= 0`. `exp`, `phi1` and `phi2` are this method at k = 0, 1, 2.

        Args:
          index: k, an int >= 0 (the solvers use 0, 1 and 2).
          h: the step size, >= 0.
          b: an array of shape (..., H, W, channels); bfloat16 and float16 are computed in
            float32 and cast back.
          kernel: an array of shape (k, k, channels).

        Returns:
          An array with the shape and dtype of `b`.

        Raises:
          ValueError: `boundary="zero"` with a general kernel or one larger than 3x3, which
            have no fast exact exponential or phi functions.
        """
        # `phi` below is the module-level function of `imexjax._phi`, not this method.
        return self._apply_spectral(b, kernel, lambda power: phi(index, -h * power))

    def exp(self, h: Scalar, b: jax.Array, kernel: jax.Array) -> jax.Array:
        r"""Returns $\exp(-h C^\top C)\, b$ for `b` of shape (..., H, W, channels): `phi(0, h, b, kernel)`."""
        return self.phi(0, h, b, kernel)

    def phi1(self, h: Scalar, b: jax.Array, kernel: jax.Array) -> jax.Array:
        r"""Returns $\varphi_1(-h C^\top C)\, b$, $\varphi_1(z) = (e^z - 1) / z$: `phi(1, h, b, kernel)`."""
        return self.phi(1, h, b, kernel)

    def phi2(self, h: Scalar, b: jax.Array, kernel: jax.Array) -> jax.Array:
        r"""Returns $\varphi_2(-h C^\top C)\, b$, $\varphi_2(z) = (e^z - 1 - z) / z^2$: `phi(2, h, b, kernel)`."""
        return self.phi(2, h, b, kernel)

    def _apply_spectral(
        self, y: jax.Array, kernel: jax.Array, multiplier: Callable[[jax.Array], jax.Array]
    ) -> jax.Array:
        r"""Multiplies each mode of `y` by `multiplier` of its eigenvalue of $C^\top C$ (Fourier or cosine modes)."""
        if self.boundary == "zero" and not self._sine_exact(kernel):
            raise ValueError(
                "exp, phi1 and phi2 with boundary='zero' need ConvDiffusion(symmetric=True) and a kernel of size "
                f"<= {EXACT_KERNEL_SIZE}, got symmetric={self.symmetric} and k={jnp.shape(kernel)[0]}; "
                "use boundary 'periodic' or 'reflect', or an IMEX integrator"
            )
        kernel = self._prepare(y, kernel)
        if self.boundary == "zero":
            eigenvalues = sine_eigenvalues(kernel.astype(jnp.promote_types(y.dtype, jnp.float32)), *y.shape[-3:-1])
            return dst_grid(dst_grid(y) * multiplier(eigenvalues**2)).astype(y.dtype)
        if self.boundary == "reflect":
            y_hat = dct_grid(y)  # (..., H, W, C)
            eigenvalues = reflect_eigenvalues(kernel.astype(y_hat.dtype), y.shape[-3], y.shape[-2])
            return idct_grid(y_hat * multiplier(eigenvalues**2), y)
        y_hat = fft_channels(y)  # (..., C, H, W//2+1)
        power = kernel_power(kernel.astype(y_hat.real.dtype), y.shape[-3], y.shape[-2])
        return ifft_channels(y_hat * multiplier(power), y)

    def _prepare(self, y: jax.Array, kernel: jax.Array) -> jax.Array:
        check_kernel(y, kernel)
        if self.kernel_symmetric:
            check_symmetric(kernel, boundary=self.boundary)
            kernel = symmetric_part(kernel)
        if self.zero_mean:
            kernel = kernel - jnp.mean(kernel, axis=(0, 1), keepdims=True)
        return kernel


def check_kernel(y: jax.Array, kernel: jax.Array) -> None:
    """Raises ValueError unless `kernel` (k, k, C), k odd and <= min(H, W), fits `y` (..., H, W, C)."""
    if jnp.ndim(y) < 3:
        raise ValueError(f"the state must have shape (..., H, W, channels), got shape {jnp.shape(y)}")
    if not jnp.issubdtype(jnp.result_type(y), jnp.floating):
        raise TypeError(f"the state must be floating point, got dtype {jnp.result_type(y)}")
    height, width, channels = jnp.shape(y)[-3:]
    shape = jnp.shape(kernel)
    if len(shape) != 3 or shape[0] != shape[1]:
        raise ValueError(f"kernel must have shape (k, k, channels), got {shape}")
    k = shape[0]
    if k % 2 == 0:
        raise ValueError(f"kernel size must be odd so that the kernel has a centre, got k={k}")
    if k > min(height, width):
        raise ValueError(f"kernel size k={k} exceeds the grid {height}x{width}; use k <= {min(height, width)}")
    if shape[2] != channels:
        raise ValueError(f"kernel has {shape[2]} channels but the state has {channels}")
