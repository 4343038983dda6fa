"""The exponential integrators: `ConvDiffusion.exp/phi1/phi2`, the phi functions, `ExpEuler`, `ETDRK2`.

The oracle is dense: `helpers.conv_matrix` gives C from its definition, and `phi_k(-h C^T C) b`
is read off `scipy.linalg.expm` of a block matrix (Al-Mohy & Higham 2011), in float64. The
contracts every IMEX-type solver meets (measured orders, `integrate` under jit, vmap, grad and
remat, networks on `etd`/`etd2`, diffrax adapters) run in the other test files.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from helpers import conv_matrix, solver_id, tree_allclose
from jax.test_util import check_grads

import imexjax as ix
from imexjax._phi import phi

H_STEP = 0.7
PHI_METHODS = ["exp", "phi1", "phi2"]
PHI_INDEX = {"exp": 0, "phi1": 1, "phi2": 2}


def _problem(seed, height=5, width=6, k=3, channels=2, batch=(2,), kernel_mean=0.0):
    rng = np.random.default_rng(seed)
    b = rng.standard_normal(batch + (height, width, channels))
    kernel = rng.standard_normal((k, k, channels)) / k + kernel_mean
    return b, kernel


def _dense_phi(index, h, b, kernel):
    """phi_index(-h C^T C) b for b (..., H, W, C): the top of the last column of expm of
    [[-h L, b, 0...], [0, J]], J the (index x index) shift, L = C^T C built densely."""
    height, width, _ = b.shape[-3:]
    c = conv_matrix(kernel, height, width)
    n = c.shape[0]
    flat = b.reshape((-1, n))
    if index == 0:
        return (flat @ scipy.linalg.expm(-h * c.T @ c).T).reshape(b.shape)
    out = []
    for rhs in flat:
        block = np.zeros((n + index, n + index))
        block[:n, :n] = -h * c.T @ c
        block[:n, n] = rhs
        block[np.arange(n, n + index - 1), np.arange(n + 1, n + index)] = 1.0
        out.append(scipy.linalg.expm(block)[:n, -1])
    return np.stack(out).reshape(b.shape)


def _scalar_phi(index, z):
    """phi_index(z) for a real scalar z, from scipy's expm of the (index + 1)-square block matrix."""
    block = np.diag(np.ones(index), 1)
    block[0, 0] = z
    return scipy.linalg.expm(block)[0, -1]


# --------------------------------------------------------------------------------------
# the phi functions
# --------------------------------------------------------------------------------------


def test_phi_matches_the_definition_across_the_series_switch(x64):
    zs = np.array([0.0, 1e-300, -1e-12, 1e-8, -0.3, 0.4999999, -0.5, 0.5000001, -2.0, 3.0, -40.0, -1e4])
    for index in (0, 1, 2):
        expected = np.array([_scalar_phi(index, z) for z in zs])
        assert tree_allclose(phi(index, jnp.asarray(zs)), expected, rtol=1e-13, atol=0), index
    assert float(phi(1, jnp.asarray(0.0))) == 1.0 and float(phi(2, jnp.asarray(0.0))) == 0.5
    # the derivative phi_k' = phi_k - k phi_{k+1} holds at 0, across |z| = 1/2 and far out
    for index in (1, 2):
        derivative = jax.jit(jax.vmap(jax.grad(lambda z, i=index: phi(i, z))))(jnp.asarray(zs))
        closed = phi(index, jnp.asarray(zs)) - index * phi(index + 1, jnp.asarray(zs))
        assert tree_allclose(derivative, closed, rtol=1e-9, atol=1e-15), index
    with pytest.raises(ValueError, match="k must be a non-negative int"):
        phi(-1, jnp.zeros(2))


def test_phi_of_complex_arguments(x64):
    z = jnp.asarray([0.1 + 0.2j, -1.0 + 3.0j, 1e-9j])
    expected = np.array([np.expm1(v) / v for v in np.asarray(z)])
    assert tree_allclose(phi(1, z), expected, rtol=1e-13, atol=0)


# --------------------------------------------------------------------------------------
# ConvDiffusion.exp, phi1, phi2
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", PHI_METHODS)
@pytest.mark.parametrize("height,width,k", [(5, 6, 3), (7, 5, 5)])
@pytest.mark.parametrize("zero_mean", [False, True])
def test_exp_and_phi_match_dense_float64(x64, method, height, width, k, zero_mean):
    b, kernel = _problem(1, height, width, k, kernel_mean=0.2)
    out = getattr(ix.ConvDiffusion(zero_mean=zero_mean), method)(H_STEP, jnp.asarray(b), jnp.asarray(kernel))
    used = kernel - kernel.mean(axis=(0, 1), keepdims=True) if zero_mean else kernel
    assert out.shape == b.shape and out.dtype == jnp.float64
    assert tree_allclose(out, _dense_phi(PHI_INDEX[method], H_STEP, b, used), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("boundary", ["periodic", "reflect"])
def test_exp_phi1_phi2_are_phi_at_index_0_1_2(x64, boundary):
    # One implementation: the three names are `phi` at 0, 1, 2, bit for bit, and `phi` takes any
    # index (phi_3 against the dense block exponential).
    b, kernel = _problem(4)
    kernel = ix.symmetric_kernel(jnp.asarray(kernel[:2, :2])) if boundary == "reflect" else jnp.asarray(kernel)
    b, op = jnp.asarray(b), ix.ConvDiffusion(boundary=boundary)
    for method in PHI_METHODS:
        out = getattr(op, method)(H_STEP, b, kernel)
        assert np.array_equal(out, op.phi(PHI_INDEX[method], H_STEP, b, kernel)), method
    if boundary == "periodic":
        assert tree_allclose(op.phi(3, H_STEP, b, kernel), _dense_phi(3, H_STEP, b, kernel), rtol=1e-9, atol=1e-9)


def test_phi_identities(x64):
    # exp(-hL) = I - h L phi1(-hL) and phi1(-hL) = I - h L phi2(-hL), with L = C^T C = -mv
    b, kernel = _problem(2)
    b, kernel = jnp.asarray(b), jnp.asarray(kernel)
    op = ix.ConvDiffusion()
    h = 2.5
    assert tree_allclose(op.exp(h, b, kernel), b + h * op.mv(op.phi1(h, b, kernel), kernel), rtol=1e-12, atol=1e-12)
    assert tree_allclose(op.phi1(h, b, kernel), b + h * op.mv(op.phi2(h, b, kernel), kernel), rtol=1e-12, atol=1e-12)


def test_small_steps_are_finite_and_tend_to_the_limits(x64):
    # phi_k(0) = 1/k!: as h |c_hat|^2 -> 0, exp -> b, phi1 -> b, phi2 -> b / 2, with no NaN
    # in the values or in the gradients with respect to the kernel and h.
    b, kernel = _problem(3, kernel_mean=0.5)
    op = ix.ConvDiffusion()

    @jax.jit
    def values_and_gradients(h, k):
        outputs = [getattr(op, method)(h, b, k) for method in PHI_METHODS]
        grads = jax.grad(lambda s, k: sum(jnp.sum(getattr(op, m)(s, b, k) ** 2) for m in PHI_METHODS), (0, 1))(h, k)
        return outputs, grads

    for h in (0.0, 1e-30, 1e-12, 1e-6):
        outputs, grads = values_and_gradients(h, kernel)
        for method, out in zip(PHI_METHODS, outputs, strict=True):
            limit = 0.5 if method == "phi2" else 1.0
            assert tree_allclose(out, limit * b, rtol=0, atol=1e3 * h + 1e-15), (method, h)
            expected = _dense_phi(PHI_INDEX[method], h, b, kernel)
            assert tree_allclose(out, expected, rtol=1e-12, atol=1e-14), (method, h)
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads), h
        out32 = op.phi2(jnp.float32(h), b.astype(jnp.float32), kernel.astype(jnp.float32))
        assert bool(jnp.all(jnp.isfinite(out32))) and out32.dtype == jnp.float32


def test_gradients_match_finite_differences(x64):
    # with respect to h, b and the (zero-mean projected) kernel, all three methods at once
    b, kernel = _problem(4, 5, 6, 3, kernel_mean=0.3)
    op = ix.ConvDiffusion(zero_mean=True)

    def fn(h, b, k):
        return tuple(getattr(op, method)(h, b, k) for method in PHI_METHODS)

    check_grads(
        jax.jit(fn),
        (jnp.asarray(H_STEP), jnp.asarray(b), jnp.asarray(kernel)),
        order=1,
        modes=("fwd", "rev"),
        eps=1e-4,
        atol=1e-6,
        rtol=1e-6,
    )


@pytest.mark.parametrize("dtype,rtol", [(jnp.bfloat16, 2**-8), (jnp.float16, 2**-11)], ids=["bfloat16", "float16"])
def test_low_precision_keeps_dtype_and_matches_float32(dtype, rtol):
    # computed in float32 and rounded once, as `resolve` does
    b, kernel = _problem(5, 7, 5, 3)
    b_low, kernel32 = jnp.asarray(b, dtype), jnp.asarray(kernel, jnp.float32)
    op = ix.ConvDiffusion()
    for method in PHI_METHODS:
        out = getattr(op, method)(H_STEP, b_low, kernel32)
        assert out.dtype == dtype and out.shape == b.shape
        reference = getattr(op, method)(H_STEP, b_low.astype(jnp.float32), kernel32)
        assert tree_allclose(out, reference, rtol=rtol, atol=1e-5), method


def test_zero_mean_keeps_each_channels_spatial_mean(x64):
    # with zero-mean kernels the constant mode is in the null space of L: phi_k(0) = 1/k! on it
    b, kernel = _problem(6, kernel_mean=1.0)
    b, kernel = jnp.asarray(b), jnp.asarray(kernel)
    op = ix.ConvDiffusion(zero_mean=True)
    mean = jnp.mean(b, axis=(-3, -2))
    for method, scale in (("exp", 1.0), ("phi1", 1.0), ("phi2", 0.5)):
        out = getattr(op, method)(3.0, b, kernel)
        assert tree_allclose(jnp.mean(out, axis=(-3, -2)), scale * mean, rtol=1e-12, atol=1e-12), method


@pytest.mark.parametrize("method", PHI_METHODS)
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "jit"])
def test_bad_kernels_raise_eagerly_and_under_jit(method, compiled):
    # The checks read shapes and dtypes only, so they stop a call under jit (at tracing) as well.
    apply = getattr(ix.ConvDiffusion(), method)
    call = jax.jit(apply) if compiled else apply
    with pytest.raises(ValueError, match="odd"):
        call(0.5, jnp.zeros((5, 6, 2)), jnp.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="kernel has 2 channels but the state has 3"):
        call(0.5, jnp.zeros((5, 6, 3)), jnp.zeros((3, 3, 2)))
    with pytest.raises(TypeError, match="state must be floating point"):
        call(0.5, jnp.zeros((5, 6, 2), jnp.int32), jnp.zeros((3, 3, 2)))


# --------------------------------------------------------------------------------------
# the solvers
# --------------------------------------------------------------------------------------

SOLVERS = [ix.ExpEuler(), ix.ETDRK2()]


@pytest.mark.parametrize("solver", SOLVERS, ids=solver_id)
@pytest.mark.parametrize("h", [0.3, 5.0, 100.0])
def test_exact_for_pure_diffusion_at_any_step(x64, solver, h):
    # f = 0: one step is y1 = exp(-h C^T C) y0, however large h is (IMEX steps are not).
    y0, kernel = _problem(7, batch=())
    y1 = solver.step((lambda t, y, a: jnp.zeros_like(y), ix.ConvDiffusion()), 0.0, jnp.asarray(y0), (None, kernel), h)
    assert tree_allclose(y1, _dense_phi(0, h, y0, kernel), rtol=1e-10, atol=1e-12)
    assert tree_allclose(y1, ix.ConvDiffusion().exp(h, jnp.asarray(y0), kernel), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("solver", SOLVERS, ids=solver_id)
def test_one_step_formula_against_dense(x64, solver):
    # ETD1: y1 = E y0 + h P1 N(t0, y0); ETD2RK: a = that, y1 = a + h P2 (N(t0 + h, a) - N(t0, y0)),
    # with E, P1, P2 the dense exp, phi1, phi2 of -h C^T C.
    y0, kernel = _problem(8, batch=())
    h, t0 = 0.6, 0.2

    def field(t, y, scale):
        return scale * jnp.sin(y) * (1.0 + t)

    y1 = solver.step((field, ix.ConvDiffusion()), t0, jnp.asarray(y0), (1.5, kernel), h)
    n0 = 1.5 * np.sin(y0) * (1.0 + t0)
    a = _dense_phi(0, h, y0, kernel) + h * _dense_phi(1, h, n0, kernel)
    expected = a
    if solver.order == 2:
        expected = a + h * _dense_phi(2, h, 1.5 * np.sin(a) * (1.0 + t0 + h) - n0, kernel)
    assert tree_allclose(y1, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("solver", SOLVERS, ids=solver_id)
@pytest.mark.parametrize("form", ["paper", "code"])
def test_amplification_factor_through_conv_diffusion(x64, solver, form):
    # L = alpha I via a centre-only kernel sqrt(alpha); explicit lam y (+ alpha y in the paper
    # form) on a complex number stored as (re, im). With w = h alpha, x = h lam (+ w):
    # ETD1 a = e^-w + phi1(-w) x; ETD2RK a + phi2(-w) x (a - 1).
    lam, alpha, h = -1.0 + 2.0j, 3.0, 0.5
    w = h * alpha
    x = h * lam + (w if form == "paper" else 0.0)
    phi1, phi2 = -np.expm1(-w) / w, (np.exp(-w) - 1 + w) / w**2
    a = np.exp(-w) + phi1 * x
    factor = a if solver.order == 1 else a + phi2 * x * (a - 1)
    kernel = np.zeros((3, 3, 2))
    kernel[1, 1, :] = np.sqrt(alpha)
    op = ix.ConvDiffusion()

    def f_explicit(t, y, k):
        re, im = y[..., 0], y[..., 1]
        rate = jnp.stack([lam.real * re - lam.imag * im, lam.imag * re + lam.real * im], axis=-1)
        return rate - op.mv(y, k) if form == "paper" else rate

    y0 = np.random.default_rng(9).standard_normal((3, 4, 2))
    y1 = np.asarray(solver.step((f_explicit, op), 0.0, jnp.asarray(y0), (kernel, kernel), h))
    assert tree_allclose(y1[..., 0] + 1j * y1[..., 1], factor * (y0[..., 0] + 1j * y0[..., 1]), rtol=1e-12, atol=1e-12)


def test_bfloat16_states_step_in_their_dtype():
    y0, kernel = _problem(11, batch=(2,))
    y0 = jnp.asarray(y0, jnp.bfloat16)
    kernels = jnp.asarray(np.broadcast_to(kernel, (3,) + kernel.shape), jnp.float32)
    terms = (lambda t, y, a: -jnp.tanh(y), ix.ConvDiffusion())
    for solver in SOLVERS:
        out = ix.integrate(solver, terms, y0, (kernels, kernels), h=0.5)
        reference = ix.integrate(solver, terms, y0.astype(jnp.float32), (kernels, kernels), h=0.5)
        assert out.dtype == jnp.bfloat16
        assert tree_allclose(out, reference, rtol=3e-2, atol=3e-2), solver_id(solver)


def test_integrate_names_the_missing_methods():
    y0, kernels = jnp.zeros((5, 6, 2)), jnp.zeros((2, 3, 3, 2))

    class ResolveOnly:
        def mv(self, y, k):
            return y

        def resolve(self, h, b, k):
            return b

    with pytest.raises(TypeError, match=r"ETDRK2 needs an implicit linear term with \.exp, \.phi1 and \.phi2"):
        ix.integrate(ix.ETDRK2(), (lambda t, y, a: y, ResolveOnly()), y0, (kernels, kernels), h=0.1)
    with pytest.raises(TypeError, match=r"ExpEuler needs an implicit linear term with \.exp and \.phi1"):
        ix.integrate(ix.ExpEuler(), (lambda t, y, a: y, ResolveOnly()), y0, (kernels, kernels), h=0.1)
