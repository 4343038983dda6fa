"""`ix.ConvDiffusion` (the linear term -C^T C and its FFT resolvent) against dense matrices.

The oracle is `helpers.conv_matrix`, the dense matrix of C built with loops over the
definition `ix.ConvDiffusion` documents; `-C^T C` and `(I + h C^T C)^{-1}` are then plain numpy
linear algebra in float64.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import conv_matrix, tree_allclose
from jax.test_util import check_grads

import imexjax as ix
from imexjax import operators
from imexjax._reflect import symmetric_part

GRIDS = [(5, 6), (7, 5), (15, 20)]
KERNEL_SIZES = [3, 5]
BATCH = 2
CHANNELS = 2
H_STEP = 0.7


def _problem(seed, height, width, k, *, channels=CHANNELS, batch=(BATCH,), kernel_mean=0.0):
    """A random state (*batch, H, W, channels) and a kernel (k, k, channels), float64 numpy."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(batch + (height, width, channels))
    kernel = rng.standard_normal((k, k, channels)) / k + kernel_mean
    return y, kernel


def _dense_mv(y, kernel):
    """-C^T C y for y of shape (..., H, W, C), by the dense matrix."""
    height, width, channels = y.shape[-3:]
    c = conv_matrix(kernel, height, width)
    flat = y.reshape(y.shape[:-3] + (-1,))
    return (-(flat @ (c.T @ c).T)).reshape(y.shape)


def _dense_resolve(h, b, kernel):
    """(I + h C^T C)^{-1} b for b of shape (..., H, W, C), by a dense solve."""
    height, width, channels = b.shape[-3:]
    c = conv_matrix(kernel, height, width)
    system = np.eye(c.shape[0]) + h * c.T @ c
    flat = b.reshape((-1, c.shape[0]))
    return np.linalg.solve(system, flat.T).T.reshape(b.shape)


def _zero_mean(kernel):
    return kernel - kernel.mean(axis=(0, 1), keepdims=True)


# --------------------------------------------------------------------------------------
# C itself, through `kernel_spectrum` (the module's documented FFT of the kernel)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("height,width", GRIDS)
@pytest.mark.parametrize("k", KERNEL_SIZES)
def test_kernel_spectrum_diagonalises_c(x64, height, width, k):
    # mv and resolve only see C^T C, which is blind to where the kernel's centre sits (a
    # shift S gives (SC)^T (SC) = C^T C) and to flipping it; the documented contract
    # C = IFFT diag(conj c_hat) FFT pins C itself to the definition (centre k//2,
    # cross-correlation, periodic).
    y, kernel = _problem(1, height, width, k, batch=())
    spectrum = np.asarray(operators.kernel_spectrum(jnp.asarray(kernel), height, width))
    assert spectrum.shape == (CHANNELS, height, width // 2 + 1)
    y_hat = np.fft.rfft2(np.moveaxis(y, -1, 0))
    c_y = np.fft.irfft2(np.conj(spectrum) * y_hat, s=(height, width))
    expected = (conv_matrix(kernel, height, width) @ y.reshape(-1)).reshape(y.shape)
    assert tree_allclose(np.moveaxis(c_y, 0, -1), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("height,width", GRIDS)
def test_kernel_power_is_the_symbol_of_ctc(x64, height, width):
    # Multiplying by |c_hat|^2 between fft_channels and ifft_channels applies C^T C.
    y, kernel = _problem(18, height, width, 3)
    power = operators.kernel_power(jnp.asarray(kernel), height, width)
    assert power.shape == (CHANNELS, height, width // 2 + 1) and power.dtype == jnp.float64
    ctc_y = operators.ifft_channels(operators.fft_channels(jnp.asarray(y)) * power, jnp.asarray(y))
    assert tree_allclose(ctc_y, -_dense_mv(y, kernel), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("height,width", [(5, 6), (7, 5)])
def test_fft_channels_round_trip(dtype, height, width):
    # Channels first in Fourier space, at least float32 inside, the grid (odd sizes too) and
    # dtype of `like` on the way back.
    y = jnp.asarray(np.random.default_rng(19).standard_normal((2, height, width, 3)), dtype)
    y_hat = operators.fft_channels(y)
    assert y_hat.shape == (2, 3, height, width // 2 + 1) and y_hat.dtype == jnp.complex64
    back = operators.ifft_channels(y_hat, y)
    assert back.dtype == dtype
    assert tree_allclose(back, y, rtol=0, atol=0 if dtype != jnp.float32 else 1e-6)


# --------------------------------------------------------------------------------------
# mv and resolve against the dense matrix
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("height,width", GRIDS)
@pytest.mark.parametrize("k", KERNEL_SIZES)
def test_mv_and_resolve_match_dense_float64(x64, height, width, k):
    y, kernel = _problem(2, height, width, k)
    op = ix.ConvDiffusion()
    mv = op.mv(jnp.asarray(y), jnp.asarray(kernel))
    resolved = op.resolve(H_STEP, jnp.asarray(y), jnp.asarray(kernel))
    assert mv.dtype == resolved.dtype == jnp.float64
    assert tree_allclose(mv, _dense_mv(y, kernel), rtol=1e-10, atol=1e-10)
    assert tree_allclose(resolved, _dense_resolve(H_STEP, y, kernel), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("height,width", GRIDS)
@pytest.mark.parametrize("k", KERNEL_SIZES)
def test_mv_and_resolve_match_dense_float32(height, width, k):
    y, kernel = _problem(3, height, width, k)
    y32, kernel32 = jnp.asarray(y, jnp.float32), jnp.asarray(kernel, jnp.float32)
    op = ix.ConvDiffusion()
    mv = op.mv(y32, kernel32)
    resolved = op.resolve(H_STEP, y32, kernel32)
    assert mv.dtype == resolved.dtype == jnp.float32
    # The oracle sees the same float32-rounded inputs, computed in float64.
    y_in, kernel_in = np.asarray(y32, np.float64), np.asarray(kernel32, np.float64)
    assert tree_allclose(mv, _dense_mv(y_in, kernel_in), rtol=1e-4, atol=1e-4)
    assert tree_allclose(resolved, _dense_resolve(H_STEP, y_in, kernel_in), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_leading_batch_axes_apply_the_same_operator(x64, batch):
    y, kernel = _problem(4, 5, 6, 3, batch=batch)
    op = ix.ConvDiffusion()
    resolved = op.resolve(H_STEP, jnp.asarray(y), jnp.asarray(kernel))
    assert resolved.shape == y.shape
    assert tree_allclose(resolved, _dense_resolve(H_STEP, y, kernel), rtol=1e-10, atol=1e-10)
    assert tree_allclose(op.mv(jnp.asarray(y), jnp.asarray(kernel)), _dense_mv(y, kernel), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("height,width", GRIDS)
def test_resolve_inverts_i_plus_h_ctc(x64, height, width):
    b, kernel = _problem(5, height, width, 3)
    b, kernel = jnp.asarray(b), jnp.asarray(kernel)
    op = ix.ConvDiffusion()
    forward = b + H_STEP * (-op.mv(b, kernel))  # (I + h C^T C) b
    assert not tree_allclose(forward, b, rtol=1e-3, atol=1e-3)  # the operator is not ~ identity
    assert tree_allclose(op.resolve(H_STEP, forward, kernel), b, rtol=1e-10, atol=1e-10)


def test_resolve_inverts_i_plus_h_ctc_float32():
    b, kernel = _problem(6, 7, 5, 3)
    b, kernel = jnp.asarray(b, jnp.float32), jnp.asarray(kernel, jnp.float32)
    op = ix.ConvDiffusion()
    forward = b + H_STEP * (-op.mv(b, kernel))
    assert tree_allclose(op.resolve(H_STEP, forward, kernel), b, rtol=1e-4, atol=1e-4)


def test_mv_is_negative_semidefinite_and_symmetric(x64):
    y, kernel = _problem(7, 7, 5, 3, batch=())
    z, _ = _problem(8, 7, 5, 3, batch=())
    y, z, kernel = jnp.asarray(y), jnp.asarray(z), jnp.asarray(kernel)
    op = ix.ConvDiffusion()
    assert float(jnp.vdot(y, op.mv(y, kernel))) < 0.0
    assert tree_allclose(jnp.vdot(z, op.mv(y, kernel)), jnp.vdot(y, op.mv(z, kernel)), rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------------------
# zero_mean
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("height,width", [(5, 6), (15, 20)])
@pytest.mark.parametrize("k", KERNEL_SIZES)
def test_zero_mean_uses_the_projected_kernel(x64, height, width, k):
    y, kernel = _problem(9, height, width, k, kernel_mean=0.5)
    projected = _zero_mean(kernel)
    op = ix.ConvDiffusion(zero_mean=True)
    mv = op.mv(jnp.asarray(y), jnp.asarray(kernel))
    resolved = op.resolve(H_STEP, jnp.asarray(y), jnp.asarray(kernel))
    assert tree_allclose(mv, _dense_mv(y, projected), rtol=1e-10, atol=1e-10)
    assert tree_allclose(resolved, _dense_resolve(H_STEP, y, projected), rtol=1e-10, atol=1e-10)
    # The projection matters: the unprojected operator is different.
    assert not tree_allclose(resolved, _dense_resolve(H_STEP, y, kernel), rtol=1e-3, atol=1e-3)


def test_zero_mean_resolve_keeps_each_channels_spatial_mean(x64):
    b, kernel = _problem(10, 7, 5, 3, channels=3, kernel_mean=0.5)
    b, kernel = jnp.asarray(b + np.array([1.0, -2.0, 3.0])), jnp.asarray(kernel)
    kept = ix.ConvDiffusion(zero_mean=True).resolve(2.0, b, kernel)
    changed = ix.ConvDiffusion(zero_mean=False).resolve(2.0, b, kernel)
    means = jnp.mean(b, axis=(-3, -2))
    assert tree_allclose(jnp.mean(kept, axis=(-3, -2)), means, rtol=1e-10, atol=1e-10)
    assert not tree_allclose(jnp.mean(changed, axis=(-3, -2)), means, rtol=1e-3, atol=1e-3)
    # C annihilates constants: mv of a per-channel constant state is zero.
    constant = jnp.ones_like(b) * jnp.array([1.0, -2.0, 3.0])
    assert tree_allclose(ix.ConvDiffusion(zero_mean=True).mv(constant, kernel), jnp.zeros_like(b), rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------
# low precision
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype,rtol",
    # One rounding of the float32 result: half the relative spacing, 2**-9 (bfloat16) and
    # 2**-12 (float16), with a margin of 2x.
    [(jnp.bfloat16, 2**-8), (jnp.float16, 2**-11)],
    ids=["bfloat16", "float16"],
)
@pytest.mark.parametrize("method", ["resolve", "mv"])
@pytest.mark.parametrize("height,width", [(5, 6), (7, 5)])
@pytest.mark.parametrize("boundary", ix.BOUNDARIES)
def test_low_precision_keeps_dtype_and_matches_float32(dtype, rtol, method, height, width, boundary):
    # rfft2 and the DCT reject 16-bit floats, and CG would lose its tolerance in them: the
    # operator computes in float32 and rounds the result once, so it matches the float32
    # computation on the same (rounded) input.
    b, kernel = _problem(11, height, width, 3)
    b_low = jnp.asarray(b, dtype)
    kernel32 = jnp.asarray(kernel, jnp.float32)
    if boundary == "reflect":
        kernel32 = symmetric_part(kernel32)
    op = ix.ConvDiffusion(boundary=boundary)
    apply = (lambda y: op.resolve(H_STEP, y, kernel32)) if method == "resolve" else (lambda y: op.mv(y, kernel32))
    out = apply(b_low)
    assert out.dtype == dtype
    assert out.shape == b.shape
    reference = apply(b_low.astype(jnp.float32))
    assert tree_allclose(out, reference, rtol=rtol, atol=1e-5)


# --------------------------------------------------------------------------------------
# gradients, jit, vmap
# --------------------------------------------------------------------------------------


def test_resolve_gradients_match_finite_differences(x64):
    # jitted so that check_grads' many evaluations reuse one compilation
    b, kernel = _problem(12, 5, 6, 3)
    op = ix.ConvDiffusion()
    resolve = jax.jit(lambda b_, k_: op.resolve(H_STEP, b_, k_))
    check_grads(
        resolve, (jnp.asarray(b), jnp.asarray(kernel)), order=1, modes=("fwd", "rev"), eps=1e-4, atol=1e-6, rtol=1e-6
    )


def test_resolve_gradient_with_respect_to_h_and_zero_mean_kernel(x64):
    b, kernel = _problem(13, 7, 5, 3, kernel_mean=0.3)
    op = ix.ConvDiffusion(zero_mean=True)
    check_grads(
        jax.jit(op.resolve),
        (jnp.asarray(H_STEP), jnp.asarray(b), jnp.asarray(kernel)),
        order=1,
        modes=("fwd", "rev"),
        eps=1e-4,
        atol=1e-6,
        rtol=1e-6,
    )


def test_mv_gradients_match_finite_differences(x64):
    y, kernel = _problem(14, 5, 6, 3)
    op = ix.ConvDiffusion()
    check_grads(
        jax.jit(op.mv),
        (jnp.asarray(y), jnp.asarray(kernel)),
        order=1,
        modes=("fwd", "rev"),
        eps=1e-4,
        atol=1e-6,
        rtol=1e-6,
    )


def test_resolve_and_mv_under_jit_with_traced_h(x64):
    b, kernel = _problem(15, 7, 5, 3)
    b, kernel = jnp.asarray(b), jnp.asarray(kernel)
    op = ix.ConvDiffusion()
    jitted_resolve = jax.jit(op.resolve)
    jitted_mv = jax.jit(op.mv)
    for h in (0.3, 2.0):  # one compilation, h traced
        assert tree_allclose(
            jitted_resolve(h, b, kernel), _dense_resolve(h, np.asarray(b), np.asarray(kernel)), rtol=1e-10, atol=1e-10
        )
    assert tree_allclose(jitted_mv(b, kernel), _dense_mv(np.asarray(b), np.asarray(kernel)), rtol=1e-10, atol=1e-10)


def test_resolve_under_vmap_over_states_and_kernels(x64):
    rng = np.random.default_rng(16)
    b = jnp.asarray(rng.standard_normal((3, 5, 6, CHANNELS)))
    kernels = jnp.asarray(rng.standard_normal((3, 3, 3, CHANNELS)) / 3)
    op = ix.ConvDiffusion()
    batched = jax.vmap(op.resolve, in_axes=(None, 0, 0))(H_STEP, b, kernels)
    expected = np.stack([_dense_resolve(H_STEP, np.asarray(b[i]), np.asarray(kernels[i])) for i in range(3)])
    assert tree_allclose(batched, expected, rtol=1e-10, atol=1e-10)
    # vmap over h as well: one solve per step size.
    hs = jnp.asarray([0.1, 1.0, 5.0])
    per_h = jax.vmap(op.resolve, in_axes=(0, 0, None))(hs, b, kernels[0])
    expected = np.stack([_dense_resolve(float(hs[i]), np.asarray(b[i]), np.asarray(kernels[0])) for i in range(3)])
    assert tree_allclose(per_h, expected, rtol=1e-10, atol=1e-10)


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["mv", "resolve"])
@pytest.mark.parametrize(
    "state_shape,kernel_shape,error,match",
    [
        ((5, 6, 2), (4, 4, 2), ValueError, "odd"),
        ((5, 8, 2), (7, 7, 2), ValueError, r"k=7 exceeds the grid 5x8"),
        ((8, 5, 2), (7, 7, 2), ValueError, r"k=7 exceeds the grid 8x5"),
        ((2, 5, 6, 3), (3, 3, 2), ValueError, r"kernel has 2 channels but the state has 3"),
        ((5, 6, 2), (3, 3), ValueError, r"kernel must have shape \(k, k, channels\)"),
        ((5, 6, 2), (3, 3, 2, 1), ValueError, r"kernel must have shape \(k, k, channels\)"),
        ((5, 6, 2), (3, 5, 2), ValueError, r"kernel must have shape \(k, k, channels\)"),
        ((5, 6), (3, 3, 6), ValueError, r"state must have shape \(\.\.\., H, W, channels\)"),
    ],
    ids=[
        "even-kernel",
        "kernel-taller-than-grid",
        "kernel-wider-than-grid",
        "channel-mismatch",
        "kernel-rank-2",
        "kernel-rank-4",
        "non-square-kernel",
        "state-rank-2",
    ],
)
def test_shape_errors_name_the_problem(method, state_shape, kernel_shape, error, match):
    y = jnp.zeros(state_shape, jnp.float32)
    kernel = jnp.zeros(kernel_shape, jnp.float32)
    op = ix.ConvDiffusion()
    call = (lambda: op.mv(y, kernel)) if method == "mv" else (lambda: op.resolve(0.5, y, kernel))
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("method", ["mv", "resolve"])
@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_])
def test_non_floating_state_is_a_type_error(method, dtype):
    y = jnp.zeros((5, 6, 2), dtype)
    kernel = jnp.zeros((3, 3, 2), jnp.float32)
    op = ix.ConvDiffusion()
    with pytest.raises(TypeError, match="state must be floating point"):
        op.mv(y, kernel) if method == "mv" else op.resolve(0.5, y, kernel)


def test_kernel_size_equal_to_grid_is_allowed(x64):
    # The boundary case of `k > min(H, W)`: k == min(H, W) wraps around but is valid.
    y, kernel = _problem(17, 5, 6, 5)
    resolved = ix.ConvDiffusion().resolve(H_STEP, jnp.asarray(y), jnp.asarray(kernel))
    assert tree_allclose(resolved, _dense_resolve(H_STEP, y, kernel), rtol=1e-10, atol=1e-10)


def test_operator_is_immutable():
    op = ix.ConvDiffusion(zero_mean=True)
    with pytest.raises(AttributeError):
        op.zero_mean = False
