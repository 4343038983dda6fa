"""`ix.ConvDiffusion(boundary=...)` (periodic, zero, reflect) against dense matrices built from each definition.

The oracle `_boundary_matrix` applies the definition to unit vectors: the state extended past
the grid by `numpy.pad` (`wrap` for periodic, `constant` for zero, `symmetric` for reflect),
cross-correlated, kept on the grid. `-C^T C`, `(I + h C^T C)^{-1}` and the phi functions are
then numpy/scipy linear algebra in float64. Four operators are checked: each boundary with its
default kernels, and `zero-symmetric`, the zero boundary with `symmetric=True` (sine-transform
solves for 3x3 kernels, CG for larger ones).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from flax import nnx
from helpers import tree_allclose
from jax.test_util import check_grads

import imexjax as ix
from imexjax._reflect import symmetric_part
from imexjax._sine import dst_grid, sine_eigenvalues
from imexjax._zero_padding import correlate_zero
from imexjax.models import Block, TimeSteppingNet, count_parameters

GRIDS = [(5, 6), (7, 5)]  # odd and even sides
KERNEL_SIZES = [3, 5]
H_STEP = 0.7
NUMPY_MODES = {"periodic": "wrap", "zero": "constant", "zero-symmetric": "constant", "reflect": "symmetric"}
OPERATORS = {
    "periodic": dict(boundary="periodic"),
    "zero": dict(boundary="zero"),
    "zero-symmetric": dict(boundary="zero", symmetric=True),
    "reflect": dict(boundary="reflect"),
}
SYMMETRIC = ("zero-symmetric", "reflect")  # operators whose kernels are symmetric under both flips
F64_TOL = 1e-12  # CG tolerance in float64


def _boundary_matrix(kernel, height, width, boundary):
    """The dense matrix of C (states (H, W, C) flattened row-major), from the definition, float64."""
    kernel = np.asarray(kernel, np.float64)
    k, _, channels = kernel.shape
    r = k // 2
    n = height * width * channels
    matrix = np.zeros((n, n))
    for column in range(n):
        y = np.zeros(n)
        y[column] = 1.0
        padded = np.pad(y.reshape(height, width, channels), ((r, r), (r, r), (0, 0)), mode=NUMPY_MODES[boundary])
        out = np.zeros((height, width, channels))
        for a in range(k):
            for b in range(k):
                out += kernel[a, b] * padded[a : a + height, b : b + width]
        matrix[:, column] = out.reshape(-1)
    return matrix


def _problem(seed, height, width, k, boundary, *, channels=2, batch=(2,)):
    """A random state (*batch, H, W, C) and a kernel (k, k, C) the boundary takes, float64 numpy."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(batch + (height, width, channels))
    if boundary in SYMMETRIC:
        kernel = np.asarray(ix.symmetric_kernel(jnp.asarray(rng.standard_normal((k // 2 + 1, k // 2 + 1, channels)))))
    else:
        kernel = rng.standard_normal((k, k, channels))
    return y, kernel / k


def _dense(kind, h, y, kernel, boundary):
    """`mv`, `resolve`, `exp`, `phi1` or `phi2` of the dense matrix, applied to y (..., H, W, C)."""
    c = _boundary_matrix(kernel, *y.shape[-3:-1], boundary)
    normal = c.T @ c
    n = normal.shape[0]
    flat = y.reshape((-1, n))
    if kind == "mv":
        out = -flat @ normal.T
    elif kind == "resolve":
        out = np.linalg.solve(np.eye(n) + h * normal, flat.T).T
    elif kind == "exp":
        out = flat @ scipy.linalg.expm(-h * normal).T
    else:  # phi_index(-h L) y: the top of the last column of expm([[-h L, y, 0..], [0, J]]), J the index x index shift
        index = {"phi1": 1, "phi2": 2}[kind]
        rows = []
        for rhs in flat:
            block = np.zeros((n + index, n + index))
            block[:n, :n] = -h * normal
            block[:n, n] = rhs
            block[np.arange(n, n + index - 1), np.arange(n + 1, n + index)] = 1.0
            rows.append(scipy.linalg.expm(block)[:n, -1])
        out = np.stack(rows)
    return out.reshape(y.shape)


def _apply(op, kind, h, y, kernel):
    return op.mv(y, kernel) if kind == "mv" else getattr(op, kind)(h, y, kernel)


def _apply_jit(op, kind, h, y, kernel):
    """`_apply` compiled once (eager dispatch compiles every primitive of every shape, slower here)."""
    return jax.jit(lambda y, kernel: _apply(op, kind, h, y, kernel))(y, kernel)


METHODS = {
    "periodic": ["mv", "resolve", "exp", "phi1", "phi2"],
    "zero": ["mv", "resolve"],
    "zero-symmetric": ["mv", "resolve", "exp", "phi1", "phi2"],
    "reflect": ["mv", "resolve", "exp", "phi1", "phi2"],
}
EXPONENTIALS = ("exp", "phi1", "phi2")
CASES = [(boundary, kind) for boundary, kinds in METHODS.items() for kind in kinds]


@pytest.mark.parametrize("boundary,kind", CASES)
@pytest.mark.parametrize("height,width", GRIDS)
@pytest.mark.parametrize("k", KERNEL_SIZES)
def test_methods_match_the_dense_definition_float64(x64, boundary, kind, height, width, k):
    y, kernel = _problem(1, height, width, k, boundary)
    op = ix.ConvDiffusion(**OPERATORS[boundary], tol=F64_TOL)
    if boundary == "zero-symmetric" and kind in EXPONENTIALS and k > 3:  # not diagonal in the sine basis
        with pytest.raises(ValueError, match=r"need ConvDiffusion\(symmetric=True\) and a kernel of size <= 3"):
            _apply(op, kind, H_STEP, jnp.asarray(y), jnp.asarray(kernel))
        return
    got = _apply_jit(op, kind, H_STEP, jnp.asarray(y), jnp.asarray(kernel))
    assert got.dtype == jnp.float64
    assert tree_allclose(got, _dense(kind, H_STEP, y, kernel, boundary), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("boundary,kind", CASES)
def test_methods_match_the_dense_definition_float32(boundary, kind):
    y, kernel = _problem(2, 5, 6, 3, boundary)  # an odd and an even side
    op = ix.ConvDiffusion(**OPERATORS[boundary])
    got = _apply_jit(op, kind, H_STEP, jnp.asarray(y, jnp.float32), jnp.asarray(kernel, jnp.float32))
    assert got.dtype == jnp.float32
    assert tree_allclose(got, _dense(kind, H_STEP, y, kernel, boundary), rtol=1e-4, atol=1e-4)


def test_zero_boundary_correlation_is_lax_conv_with_same_padding(x64):
    y, kernel = _problem(3, 7, 6, 5, "zero", channels=3)
    expected = jax.lax.conv_general_dilated(
        jnp.asarray(y),
        jnp.asarray(kernel)[:, :, None, :],
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=3,
    )
    assert tree_allclose(correlate_zero(jnp.asarray(y), jnp.asarray(kernel)), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("boundary", ["zero", "zero-symmetric", "reflect"])
def test_an_impulse_at_the_left_edge_reaches_the_right_edge_only_when_periodic(x64, boundary):
    # -C^T C (k = 3) reaches 2 columns: across the edge only when periodic. The resolvent reaches
    # every pixel, but decays over the 15 columns between the edges (periodic: 1 column apart).
    height, width = 6, 16
    impulse = np.zeros((1, height, width, 1))
    impulse[0, height // 2, 0, 0] = 1.0
    _, kernel = _problem(4, height, width, 3, "reflect", channels=1)  # doubly symmetric: every boundary takes it
    edges = {}
    for name in ("periodic", boundary):
        op = ix.ConvDiffusion(**OPERATORS[name], tol=F64_TOL)
        mv = op.mv(jnp.asarray(impulse), jnp.asarray(kernel))
        solve = op.resolve(1.0, jnp.asarray(impulse), jnp.asarray(kernel))
        edges[name] = (np.abs(np.asarray(mv)[0, :, -1]).max(), np.abs(np.asarray(solve)[0, :, -1]).max())
    assert edges["periodic"][0] > 0.1 and edges["periodic"][1] > 1e-2
    assert edges[boundary][0] < 1e-15 and edges[boundary][1] < 1e-3 * edges["periodic"][1]


def test_the_sine_transform_diagonalizes_a_symmetric_3x3_kernel_with_zeros_beyond_the_edges(x64):
    # S C S = diag(lambda) for the dense C of the definition, S the orthonormal DST-I built from its
    # formula; S is its own inverse, and `dst_grid` is S applied along H and W.
    height, width = 7, 6
    _, kernel = _problem(20, height, width, 3, "zero-symmetric", channels=1)
    c = _boundary_matrix(kernel, height, width, "zero")
    s_rows = np.array(
        [
            [np.sqrt(2 / (height + 1)) * np.sin(np.pi * (p + 1) * (i + 1) / (height + 1)) for i in range(height)]
            for p in range(height)
        ]
    )
    s_columns = np.array(
        [
            [np.sqrt(2 / (width + 1)) * np.sin(np.pi * (q + 1) * (j + 1) / (width + 1)) for j in range(width)]
            for q in range(width)
        ]
    )
    s = np.kron(s_rows, s_columns)
    assert np.allclose(s @ s, np.eye(height * width), atol=1e-13)
    eigenvalues = np.asarray(sine_eigenvalues(jnp.asarray(kernel), height, width))[..., 0].reshape(-1)
    assert np.allclose(s @ c @ s, np.diag(eigenvalues), atol=1e-12)
    y = np.random.default_rng(21).standard_normal((2, height, width, 1))
    transformed = np.asarray(dst_grid(jnp.asarray(y)))
    assert np.allclose(transformed.reshape(2, -1), y.reshape(2, -1) @ s.T, atol=1e-13)


@pytest.mark.parametrize("kind", ["resolve", "exp", "phi1", "phi2"])
def test_zero_symmetric_methods_are_exact_at_stiffness_1e3(x64, kind):
    height, width = 7, 6
    y, kernel = _problem(22, height, width, 3, "zero-symmetric", channels=2, batch=())
    c = _boundary_matrix(kernel, height, width, "zero")
    kernel = kernel * np.sqrt(1e3 / np.linalg.eigvalsh(c.T @ c).max())  # h max eig(C^T C) = 1e3 at h = 1
    op = ix.ConvDiffusion(boundary="zero", symmetric=True)  # the default float32 tolerance: no CG runs
    got = _apply_jit(op, kind, 1.0, jnp.asarray(y), jnp.asarray(kernel))
    assert tree_allclose(got, _dense(kind, 1.0, y, kernel, "zero"), rtol=1e-8, atol=1e-8)


def test_reflect_kernel_is_the_symmetric_expansion_of_its_quarter():
    quarter = jnp.arange(2 * 2 * 3, dtype=jnp.float32).reshape(2, 2, 3)
    kernel = ix.symmetric_kernel(quarter)
    assert kernel.shape == (3, 3, 3)
    for a in range(3):
        for b in range(3):
            assert jnp.array_equal(kernel[a, b], quarter[min(a, 2 - a), min(b, 2 - b)])
    assert jnp.array_equal(kernel, kernel[::-1]) and jnp.array_equal(kernel, kernel[:, ::-1])


def test_reflect_uses_the_symmetric_part_of_a_traced_kernel(x64):
    y, _ = _problem(5, 6, 5, 3, "reflect")
    kernel = jnp.asarray(np.random.default_rng(6).standard_normal((3, 3, 2)))
    op = ix.ConvDiffusion(boundary="reflect")
    traced = jax.jit(lambda k: op.resolve(H_STEP, jnp.asarray(y), k))(kernel)
    expected = _dense("resolve", H_STEP, y, np.asarray(symmetric_part(kernel)), "reflect")
    assert tree_allclose(traced, expected, rtol=1e-9, atol=1e-9)


def test_reflect_zero_mean_resolve_keeps_each_channels_spatial_mean(x64):
    y, kernel = _problem(7, 6, 7, 3, "reflect")
    out = ix.ConvDiffusion(boundary="reflect", zero_mean=True).resolve(2.0, jnp.asarray(y), jnp.asarray(kernel))
    assert tree_allclose(out.mean(axis=(-3, -2)), y.mean(axis=(-3, -2)), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# gradients, jit, vmap
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", OPERATORS)
def test_gradients_match_finite_differences(x64, boundary):
    y, kernel = _problem(8, 5, 6, 3, boundary, batch=())
    op = ix.ConvDiffusion(**OPERATORS[boundary], tol=F64_TOL, zero_mean=True)
    params = jnp.asarray(kernel[:2, :2] if boundary in SYMMETRIC else kernel)  # symmetric: the free quarter
    expand = ix.symmetric_kernel if boundary in SYMMETRIC else (lambda k: k)

    @jax.jit
    def every_method(b, p, h):
        return tuple(_apply(op, kind, h, b, expand(p)) for kind in METHODS[boundary])

    check_grads(every_method, (jnp.asarray(y), params, H_STEP), order=1, modes=["fwd", "rev"], eps=1e-6)


def test_reflect_gradients_of_a_traced_asymmetric_kernel_match_finite_differences(x64):
    # A traced kernel is replaced by its symmetric part, so its gradient is the symmetric part of
    # the gradient: finite differences of the full (not symmetric) kernel check both.
    y, _ = _problem(8, 5, 6, 3, "reflect", batch=())
    kernel = jnp.asarray(np.random.default_rng(9).standard_normal((3, 3, 2)) / 3)
    op = ix.ConvDiffusion(boundary="reflect")
    resolve = jax.jit(lambda k: op.resolve(H_STEP, jnp.asarray(y), k))
    check_grads(resolve, (kernel,), order=1, modes=["fwd", "rev"], eps=1e-6)
    gradient = jax.grad(lambda k: jnp.sum(jnp.sin(resolve(k))))(kernel)
    assert tree_allclose(gradient, gradient[::-1], rtol=1e-12, atol=1e-14)
    assert tree_allclose(gradient, gradient[:, ::-1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("boundary", ["zero", "zero-symmetric", "reflect"])
def test_resolve_under_jit_and_vmap_over_states_and_kernels(x64, boundary):
    y, _ = _problem(10, 5, 6, 3, boundary, batch=(3,))
    kernels = np.stack([_problem(11 + n, 5, 6, 3, boundary)[1] for n in range(3)])
    op = ix.ConvDiffusion(**OPERATORS[boundary], tol=F64_TOL)
    batched = jax.jit(jax.vmap(op.resolve, in_axes=(None, 0, 0)))(H_STEP, jnp.asarray(y), jnp.asarray(kernels))
    expected = np.stack([_dense("resolve", H_STEP, y[n], kernels[n], boundary) for n in range(3)])
    assert tree_allclose(batched, expected, rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------------------
# conjugate gradients (zero)
# --------------------------------------------------------------------------------------


def test_zero_solve_on_a_large_float32_grid_converges():
    rng = np.random.default_rng(12)
    b = jnp.asarray(rng.standard_normal((1, 96, 128, 4)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((3, 3, 4)) / 3, jnp.float32)
    op = ix.ConvDiffusion(boundary="zero", zero_mean=True)
    x = op.resolve(1.0, b, kernel)
    residual = b - (x - op.mv(x, kernel))
    assert int(op.cg_steps(1.0, b, kernel)) < op.max_steps
    assert float(jnp.max(jnp.abs(residual))) < 5 * op.tol * float(jnp.max(jnp.abs(b)))


def test_a_symmetric_5x5_kernel_is_preconditioned_by_its_sine_solve(x64):
    # With symmetric=True the CG is preconditioned by the sine solve of the kernel's symbol (not exact
    # beyond 3x3), with symmetric=False by the periodic resolvent: on the same symmetric kernel at
    # h max eig(C^T C) = 1e3 both reach the dense solution, the sine solve in fewer iterations.
    height, width = 16, 12
    y, kernel = _problem(23, height, width, 5, "zero-symmetric", batch=())
    c = _boundary_matrix(kernel, height, width, "zero")
    kernel = kernel * np.sqrt(1e3 / np.linalg.eigvalsh(c.T @ c).max())
    expected = _dense("resolve", 1.0, y, kernel, "zero")
    steps = {}
    for symmetric in (True, False):
        op = ix.ConvDiffusion(boundary="zero", symmetric=symmetric, tol=1e-10, max_steps=1000)
        steps[symmetric] = int(op.cg_steps(1.0, jnp.asarray(y), jnp.asarray(kernel)))
        assert tree_allclose(op.resolve(1.0, jnp.asarray(y), jnp.asarray(kernel)), expected, rtol=1e-7, atol=1e-7)
    assert steps[True] < 0.7 * steps[False], steps


def test_each_channel_and_image_is_its_own_cg_system(x64):
    # a solve of one image alone equals its row of a batched solve, to the tolerance
    y, kernel = _problem(24, 6, 7, 3, "zero", batch=(3,))
    op = ix.ConvDiffusion(boundary="zero", tol=1e-12)
    batched = op.resolve(H_STEP, jnp.asarray(y), jnp.asarray(kernel))
    alone = op.resolve(H_STEP, jnp.asarray(y[1:2]), jnp.asarray(kernel))
    assert tree_allclose(batched[1:2], alone, rtol=1e-10, atol=1e-10)


def test_zero_solve_returns_its_iterate_when_max_steps_are_spent(x64):
    # Two CG steps: the iterate, not zero, the right side or an error. CG minimizes the error in
    # the norm of A = I + h C^T C, so that error lies strictly between the exact solve's and x = 0's.
    y, kernel = _problem(13, 6, 7, 3, "zero", batch=())
    op = ix.ConvDiffusion(boundary="zero", tol=F64_TOL, max_steps=2)
    assert int(op.cg_steps(H_STEP, jnp.asarray(y), jnp.asarray(kernel))) == 2
    iterate = np.asarray(op.resolve(H_STEP, jnp.asarray(y), jnp.asarray(kernel))).reshape(-1)
    c = _boundary_matrix(kernel, 6, 7, "zero")
    a = np.eye(c.shape[0]) + H_STEP * c.T @ c
    exact = np.linalg.solve(a, y.reshape(-1))

    def energy_error(x):
        return float((exact - x) @ a @ (exact - x))

    assert 1e-6 * energy_error(0 * exact) < energy_error(iterate) < 0.5 * energy_error(0 * exact)


@pytest.mark.parametrize("scale", [1e-8, 1e6])
def test_zero_solve_and_its_gradient_do_not_depend_on_the_scale_of_the_right_side(scale):
    # The CG stopping rule is relative to max |b|: a right side (or a cotangent) of 1e-8 is
    # solved to the same relative accuracy as one of 1, in float32.
    y, kernel = _problem(14, 6, 7, 3, "zero", batch=())
    op = ix.ConvDiffusion(boundary="zero")
    b, k = jnp.asarray(y, jnp.float32), jnp.asarray(kernel, jnp.float32)
    solve = jax.jit(lambda b, k: op.resolve(H_STEP, b, k))

    def assert_scales(scaled, unit):  # equal to a few tolerances of the largest entry
        unit = np.asarray(unit, np.float64)
        error = np.max(np.abs(np.asarray(scaled, np.float64) / scale - unit))
        assert error < 10 * op.tol * np.max(np.abs(unit)), error

    assert_scales(solve(scale * b, k), solve(b, k))
    _, pullback = jax.vjp(solve, b, k)
    cotangent = jnp.asarray(np.random.default_rng(15).standard_normal(y.shape), jnp.float32)
    for scaled, unit in zip(pullback(scale * cotangent), pullback(cotangent), strict=True):
        assert_scales(scaled, unit)


def test_zero_solve_of_zero_is_zero():
    op = ix.ConvDiffusion(boundary="zero")
    assert bool(jnp.all(op.resolve(1.0, jnp.zeros((5, 6, 2)), jnp.ones((3, 3, 2))) == 0))


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,match",
    [
        (dict(boundary="mirror"), "unknown boundary 'mirror'"),
        (dict(tol=0.0), "tol must be"),
        (dict(tol=2.0), "tol must be"),
        (dict(max_steps=0), "max_steps must be"),
        (dict(max_steps=2.5), "max_steps must be"),
    ],
)
def test_bad_options_raise(options, match):
    with pytest.raises(ValueError, match=match):
        ix.ConvDiffusion(**options)


@pytest.mark.parametrize("method", ["exp", "phi1", "phi2"])
def test_zero_boundary_has_an_exponential_only_for_symmetric_3x3_kernels(method):
    y = jnp.ones((5, 6, 2))
    match = r"with boundary='zero' need ConvDiffusion\(symmetric=True\) and a kernel of size <= 3, got symmetric"
    with pytest.raises(ValueError, match=match + "=None and k=3"):
        getattr(ix.ConvDiffusion(boundary="zero"), method)(1.0, y, jnp.ones((3, 3, 2)))
    with pytest.raises(ValueError, match=match + "=True and k=5"):
        getattr(ix.ConvDiffusion(boundary="zero", symmetric=True), method)(1.0, y, jnp.ones((5, 5, 2)))
    assert (
        getattr(ix.ConvDiffusion(boundary="zero", symmetric=True), method)(1.0, y, jnp.ones((3, 3, 2))).shape == y.shape
    )


@pytest.mark.parametrize("boundary", ["zero", "reflect"])
@pytest.mark.parametrize("method", ["mv", "resolve", "exp", "phi1", "phi2"])
@pytest.mark.parametrize("entry,axis", [((0, 1, 0), "rows"), ((1, 0, 1), "columns")])
def test_symmetric_kernels_reject_a_concrete_asymmetric_kernel(boundary, method, entry, axis):
    kernel = jnp.ones((3, 3, 2)).at[entry].set(2.0)
    with pytest.raises(ValueError, match=f"needs a kernel symmetric under flipping its {axis}"):
        _apply(ix.ConvDiffusion(boundary=boundary, symmetric=True), method, 1.0, jnp.ones((5, 6, 2)), kernel)


def test_reflect_refuses_general_kernels_and_symmetric_must_be_a_bool():
    with pytest.raises(ValueError, match="boundary='reflect' needs kernels symmetric under both flips"):
        ix.ConvDiffusion(boundary="reflect", symmetric=False)
    with pytest.raises(ValueError, match="symmetric must be True, False or None, got 'yes'"):
        ix.ConvDiffusion(boundary="zero", symmetric="yes")


def test_reflect_accepts_a_kernel_symmetric_to_rounding(x64):
    y, kernel = _problem(16, 5, 6, 3, "reflect", batch=())
    nearly = kernel.copy()
    nearly[0, 1, 0] *= 1 + 1e-9  # rounding-sized asymmetry, e.g. a kernel saved in float32 and reloaded
    out = ix.ConvDiffusion(boundary="reflect").resolve(H_STEP, jnp.asarray(y), jnp.asarray(nearly))
    assert tree_allclose(out, _dense("resolve", H_STEP, y, kernel, "reflect"), rtol=1e-8, atol=1e-8)


def test_cg_steps_needs_the_zero_boundary_and_symmetric_kernel_needs_a_square_quarter():
    with pytest.raises(ValueError, match="cg_steps needs boundary='zero'"):
        ix.ConvDiffusion().cg_steps(1.0, jnp.ones((5, 6, 2)), jnp.ones((3, 3, 2)))
    with pytest.raises(ValueError, match="cg_steps needs a general kernel"):
        ix.ConvDiffusion(boundary="zero", symmetric=True).cg_steps(1.0, jnp.ones((5, 6, 2)), jnp.ones((3, 3, 2)))
    with pytest.raises(ValueError, match="quarter must have shape"):
        ix.symmetric_kernel(jnp.ones((2, 3, 2)))


# --------------------------------------------------------------------------------------
# networks
# --------------------------------------------------------------------------------------


def test_a_tiny_network_with_a_boundary_per_block_takes_a_finite_gradient_step():
    boundary = ("zero", "reflect")
    net = TimeSteppingNet(
        ((2, 3), (2, 3)), in_channels=1, num_outputs=2, boundary=boundary, remat=False, rngs=nnx.Rngs(0)
    )
    assert tuple(block.implicit.boundary for block in net.blocks) == boundary
    images = jax.random.normal(jax.random.key(1), (2, 8, 10, 1))
    value, grads = nnx.jit(nnx.value_and_grad(lambda model: jnp.mean(model(images) ** 2)))(net)
    assert bool(jnp.isfinite(value))
    flat = [(tuple(map(str, path)), g) for path, g in nnx.to_flat_state(nnx.state(grads))]
    assert all(bool(jnp.all(jnp.isfinite(g))) for _, g in flat)
    implicit = [g for path, g in flat if "implicit_kernels" in path]
    assert len(implicit) == 2 and all(float(jnp.max(jnp.abs(g))) > 0 for g in implicit)
    # zero and reflect store the free 2x2 quarter of each 3x3 kernel, and count what they store
    for block in net.blocks:
        assert block.implicit_kernels.shape == (1, 2, 2, 3)
        kernels = block.kernels()
        assert kernels.shape == (1, 3, 3, 3)
        assert jnp.array_equal(kernels, kernels[:, ::-1]) and jnp.array_equal(kernels, kernels[:, :, ::-1])
    assert count_parameters(net)["implicit"] == 2 * 2 * 2 * 3


@pytest.mark.parametrize("integrator", ["etd", "etd2"])
def test_exponential_integrators_take_the_zero_boundary_with_its_symmetric_3x3_kernels(integrator):
    net = TimeSteppingNet(
        ((2, 3),), in_channels=1, num_outputs=2, integrator=integrator, boundary="zero", remat=False, rngs=nnx.Rngs(0)
    )
    images = jax.random.normal(jax.random.key(2), (2, 8, 10, 1))
    value, grads = nnx.jit(nnx.value_and_grad(lambda model: jnp.mean(model(images) ** 2)))(net)
    implicit = grads.blocks[0].implicit_kernels[...]
    assert bool(jnp.isfinite(value)) and implicit.shape == (1, 2, 2, 3) and float(jnp.max(jnp.abs(implicit))) > 0


@pytest.mark.parametrize(
    "boundary,integrator,match",
    [
        ("mirror", "imex", "unknown boundary 'mirror'"),
        (("zero",), "imex", r"one per block \(2\), got 1"),
        (("zero", "bad"), "imex", "unknown boundary 'bad'"),
        (None, "imex", "boundary must be a name or a list"),
        ("zero", "etd", r"boundary 'zero' has an exponential \(exp, phi1, which this integrator needs\) only for"),
        (("periodic", "zero"), "etd2", "only for kernels of size <= 3 symmetric under both flips, got size 5"),
    ],
)
def test_network_boundary_errors(boundary, integrator, match):
    with pytest.raises(ValueError, match=match):
        TimeSteppingNet(
            ((2, 3), (2, 3)),
            in_channels=1,
            num_outputs=2,
            integrator=integrator,
            boundary=boundary,
            implicit_kernel_size=5,
            rngs=nnx.Rngs(0),
        )


def test_block_rejects_an_unknown_boundary():
    with pytest.raises(ValueError, match="unknown boundary"):
        Block(1, 3, 1, boundary="wrap", rngs=nnx.Rngs(0))
