"""`imexjax.diffrax`'s lineax pieces: ConvOperator, ConvDiffusionOperator, FFTLinearSolver, and the
FFT implicit adjoint of FFTNewton through `diffrax.diffeqsolve` (inside `fft_adjoint()`).

Operators against the dense matrix of the definition of C (`helpers.conv_matrix`), solves
against `numpy.linalg.solve`, gradients against finite differences and against optimistix's
dense implicit adjoint (outside `fft_adjoint()`), the jaxpr of a gradient against the size of
a dense Jacobian, and `import imexjax.diffrax` against the state of optimistix, diffrax and lineax.
"""

import contextlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import conv_matrix, tree_allclose
from jax.extend import core as jax_core
from jax.test_util import check_grads

diffrax = pytest.importorskip("diffrax")
lx = pytest.importorskip("lineax")
optx = pytest.importorskip("optimistix")
ixd = pytest.importorskip("imexjax.diffrax")

GRIDS = [(5, 7, 2), (4, 6, 3)]  # odd and even


def _kernel_and_state(shape, seed=0, k=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((k, k, shape[-1])) * 0.7, rng.standard_normal(shape)


@pytest.mark.parametrize("shape", GRIDS, ids=str)
def test_operators_against_the_dense_definition(x64, shape):
    kernel, v = _kernel_and_state(shape)
    c = conv_matrix(kernel, *shape[:2])
    conv = ixd.ConvOperator(kernel, v)
    diffusion = ixd.ConvDiffusionOperator(kernel, v, scale=0.3, shift=1.5)
    normal = ixd.ConvDiffusionOperator(kernel, v, shift=0.0)  # C^T C
    for operator, dense in ((conv, c), (diffusion, 1.5 * np.eye(len(c)) + 0.3 * c.T @ c), (normal, c.T @ c)):
        assert tree_allclose(operator.as_matrix(), dense, rtol=1e-12, atol=1e-12)
        assert tree_allclose(operator.mv(jnp.asarray(v)).reshape(-1), dense @ v.reshape(-1), rtol=1e-12, atol=1e-12)
        assert tree_allclose(operator.transpose().as_matrix(), dense.T, rtol=1e-12, atol=1e-12)
        assert tree_allclose(lx.diagonal(operator), np.diag(dense), rtol=1e-12, atol=1e-12)
    # batched states: each leading index on its own
    batch = np.stack([v, 2 * v + 1])
    assert tree_allclose(
        ixd.ConvOperator(kernel, batch).mv(jnp.asarray(batch))[1], conv.mv(2 * v + 1), rtol=1e-12, atol=0
    )
    centred = ixd.ConvDiffusionOperator(kernel, v, zero_mean=True)
    c0 = conv_matrix(kernel - kernel.mean(axis=(0, 1)), *shape[:2])
    assert tree_allclose(centred.as_matrix(), np.eye(len(c)) + c0.T @ c0, rtol=1e-12, atol=1e-12)
    assert tree_allclose(lx.diagonal(centred), 1.0 + np.diag(c0.T @ c0), rtol=1e-12, atol=1e-12)


def test_operator_tags():
    kernel, v = _kernel_and_state(GRIDS[0])
    diffusion = ixd.ConvDiffusionOperator(kernel, v, scale=0.5)
    conv = ixd.ConvOperator(kernel, v)
    assert lx.is_symmetric(diffusion) and lx.is_positive_semidefinite(diffusion)
    assert not lx.is_symmetric(conv) and not lx.is_positive_semidefinite(conv)
    assert not any(query(op) for op in (conv, diffusion) for query in (lx.is_diagonal, lx.is_negative_semidefinite))
    assert lx.AutoLinearSolver(well_posed=True).select_solver(diffusion) == lx.Cholesky()


@pytest.mark.parametrize("shape", GRIDS, ids=str)
def test_linear_solve_against_numpy(x64, shape):
    kernel, b = _kernel_and_state(shape, seed=1)
    c = conv_matrix(kernel, *shape[:2])
    identity = np.eye(len(c))
    cases = [
        (ixd.ConvDiffusionOperator(kernel, b, scale=0.8), identity + 0.8 * c.T @ c),
        (ixd.ConvDiffusionOperator(kernel, b, shift=0.0), c.T @ c),
        (ixd.ConvOperator(kernel, b), c),
        (ixd.ConvOperator(kernel, b).transpose(), c.T),
    ]
    for operator, dense in cases:
        solution = lx.linear_solve(operator, jnp.asarray(b), ixd.FFTLinearSolver())
        expected = np.linalg.solve(dense, b.reshape(-1)).reshape(shape)
        assert solution.result == lx.RESULTS.successful
        assert tree_allclose(solution.value, expected, rtol=1e-9, atol=1e-10)


def test_linear_solve_gradients(x64):
    kernel, b = _kernel_and_state((5, 6, 2), seed=2)
    solver = ixd.FFTLinearSolver()

    def solve(kernel, b, scale):
        return lx.linear_solve(ixd.ConvDiffusionOperator(kernel, b, scale=scale), b, solver).value

    def solve_c(kernel, b):
        return lx.linear_solve(ixd.ConvOperator(kernel, b), b, solver).value

    args = (jnp.asarray(kernel), jnp.asarray(b), jnp.asarray(0.7))
    check_grads(jax.jit(solve), args, order=1, modes=("fwd", "rev"), eps=1e-6)
    check_grads(jax.jit(solve_c), args[:2], order=1, modes=("fwd", "rev"), eps=1e-6)


def test_linear_solver_on_a_stage_jacobian(x64):
    # The Jacobian of diffrax's k-space stage relation k - dt A (y + a k), wrapped by lineax as
    # optimistix's implicit adjoint wraps it, is I + a dt C^T C; the solver measures and solves it.
    kernel, b = _kernel_and_state((4, 5, 2), seed=3)
    term = ixd.ConvDiffusionTerm(jnp.asarray(kernel))
    y = jnp.asarray(b)
    jacobian = lx.JacobianLinearOperator(lambda k, args: k - term.vf_prod(0.0, y + 0.4 * k, None, 0.6), y)
    solution = lx.linear_solve(jacobian, y, ixd.FFTLinearSolver())
    c = conv_matrix(kernel, 4, 5)
    transposed = lx.linear_solve(jacobian.transpose(), y, ixd.FFTLinearSolver())
    dense = np.eye(len(c)) + 0.24 * c.T @ c
    assert tree_allclose(solution.value, np.linalg.solve(dense, b.reshape(-1)).reshape(b.shape), rtol=1e-9, atol=1e-10)
    assert tree_allclose(transposed.value, solution.value, rtol=1e-9, atol=1e-10)


def test_bad_inputs():
    kernel, v = _kernel_and_state((5, 7, 2))
    with pytest.raises(ValueError, match="scale must be >= 0"):
        ixd.ConvDiffusionOperator(kernel, v, scale=-1.0)
    with pytest.raises(ValueError, match="channels"):
        ixd.ConvOperator(kernel, np.zeros((5, 7, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W, channels\)"):
        identity = lx.FunctionLinearOperator(lambda x: x, jax.ShapeDtypeStruct((4, 4), jnp.float32))
        lx.linear_solve(identity, jnp.ones((4, 4)), ixd.FFTLinearSolver())
    with pytest.raises(ValueError, match="square operator"):
        ixd.FFTLinearSolver().init(lx.MatrixLinearOperator(jnp.ones((3, 4))), {})
    with pytest.raises(TypeError, match="the state must be floating point"):
        ixd.ConvOperator(kernel, np.ones((5, 7, 2), np.int32))
    with pytest.raises(TypeError, match="real floating states, got dtype complex64"):
        complex_ = lx.FunctionLinearOperator(lambda x: x, jax.ShapeDtypeStruct((5, 7, 2), jnp.complex64))
        lx.linear_solve(complex_, jnp.ones((5, 7, 2), jnp.complex64), ixd.FFTLinearSolver())


def test_a_singular_operator_is_reported_not_solved(x64):
    # C^T C of a zero-mean kernel annihilates constants: lineax's `singular`, or its error when thrown.
    kernel, b = _kernel_and_state((5, 6, 2), seed=4)
    singular = ixd.ConvDiffusionOperator(kernel, b, shift=0.0, zero_mean=True)
    solution = lx.linear_solve(singular, jnp.asarray(b), ixd.FFTLinearSolver(), throw=False)
    assert solution.result == lx.RESULTS.singular
    with pytest.raises(Exception, match="singular"):
        lx.linear_solve(singular, jnp.asarray(b), ixd.FFTLinearSolver())


def _loss_fn(linear=True, t1=0.5, rtol=1e-8):
    """`sum(y(t1)^2)` of adaptive KenCarp4 on y' = y - y^3 - C^T C y, as a function of (kernel, y0)."""

    def loss(kernel, y0):
        terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, args: y - y**3), ixd.ConvDiffusionTerm(kernel))
        solver = diffrax.KenCarp4(root_finder=ixd.FFTNewton(linear=linear))
        controller = diffrax.PIDController(rtol=rtol, atol=rtol)
        sol = diffrax.diffeqsolve(terms, solver, 0.0, t1, None, y0, stepsize_controller=controller)
        return jnp.sum(sol.ys[-1] ** 2)

    return loss


def test_kencarp4_gradients_match_finite_differences_and_the_dense_adjoint(x64):
    kernel, y0 = map(jnp.asarray, _kernel_and_state((4, 5, 2), seed=4))
    fft = jax.jit(jax.value_and_grad(_loss_fn(), argnums=(0, 1)))
    dense = jax.jit(jax.value_and_grad(_loss_fn(), argnums=(0, 1)))
    with ixd.fft_adjoint():
        value, grads = fft(kernel, y0)  # traced (and kept by jit) with the FFT adjoint
    dense_value, dense_grads = dense(kernel, y0)
    assert tree_allclose(grads, dense_grads, rtol=1e-9, atol=1e-11)
    # the adjoint touches derivatives only: bitwise the same forward solution
    assert np.asarray(value) == np.asarray(dense_value)
    rng = np.random.default_rng(5)
    directions = (jnp.asarray(rng.standard_normal(kernel.shape)), jnp.asarray(rng.standard_normal(y0.shape)))
    eps = 1e-5
    for i, direction in enumerate(directions):
        step = [jnp.zeros_like(kernel), jnp.zeros_like(y0)]
        step[i] = eps * direction
        plus = fft(kernel + step[0], y0 + step[1])[0]
        minus = fft(kernel - step[0], y0 - step[1])[0]
        assert tree_allclose(jnp.vdot(grads[i], direction), (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-9)


def _stage_gradient_is_dense(adjoint=None) -> bool:
    """Whether the jaxpr of the gradient of one FFTNewton stage holds an N x N value (a dense Jacobian)."""
    kernel, y = map(jnp.asarray, _kernel_and_state((4, 5, 2), seed=6))
    term = ixd.ConvDiffusionTerm(kernel)

    def stage(y):
        relation = lambda k, args: k - term.vf_prod(0.0, y + 0.4 * k, None, 0.6)  # noqa: E731
        kwargs = {} if adjoint is None else {"adjoint": adjoint}
        return optx.root_find(relation, ixd.FFTNewton(), jnp.zeros_like(y), max_steps=1, **kwargs).value

    return _largest_intermediate(jax.make_jaxpr(jax.grad(lambda y: jnp.sum(stage(y) ** 2)))(y)) >= y.size**2


def test_fft_adjoint_is_scoped_to_its_block_and_respects_a_callers_adjoint(x64):
    original = optx.root_find
    assert _stage_gradient_is_dense()  # outside the block: optimistix's default
    with ixd.fft_adjoint():
        assert optx.root_find is not original
        assert not _stage_gradient_is_dense()
        assert _stage_gradient_is_dense(optx.ImplicitAdjoint())  # the caller's own adjoint is kept
        with ixd.fft_adjoint():  # blocks nest
            assert not _stage_gradient_is_dense()
        assert not _stage_gradient_is_dense()
    assert optx.root_find is original
    with pytest.raises(RuntimeError, match="inside"), ixd.fft_adjoint():
        raise RuntimeError("inside")
    assert optx.root_find is original
    # an explicit adjoint reaches the FFT solve without any block
    assert not _stage_gradient_is_dense(optx.ImplicitAdjoint(linear_solver=ixd.FFTLinearSolver()))


def test_importing_imexjax_diffrax_changes_nothing_in_optimistix_diffrax_or_lineax():
    # In a fresh interpreter: every attribute of every loaded module of the three libraries is
    # the same object before and after `import imexjax.diffrax`.
    script = """
import sys
import diffrax, lineax, optimistix

def snapshot():
    return {
        (name, attribute): value
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("diffrax", "lineax", "optimistix") and module is not None
        for attribute, value in list(vars(module).items())
    }

before = snapshot()
import imexjax.diffrax
after = snapshot()
changed = sorted(key for key in before if key in after and before[key] is not after[key])
assert not changed, changed
assert optimistix.root_find.__module__.startswith("optimistix"), optimistix.root_find
print("unchanged", len(before))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("unchanged")


def _largest_intermediate(closed_jaxpr) -> int:
    """The number of elements of the largest value in a jaxpr, sub-jaxprs (loops, conds, calls) included."""
    largest = 0

    def walk(jaxpr):
        nonlocal largest
        for eqn in jaxpr.eqns:
            for var in eqn.outvars:
                largest = max(largest, int(np.prod(getattr(var.aval, "shape", ()))))
            for param in eqn.params.values():
                for sub in param if isinstance(param, tuple | list) else (param,):
                    if isinstance(sub, jax_core.ClosedJaxpr):
                        walk(sub.jaxpr)
                    elif isinstance(sub, jax_core.Jaxpr):
                        walk(sub)

    walk(closed_jaxpr.jaxpr)
    return largest


@pytest.mark.parametrize(
    ("size", "channels", "options", "dense"),
    [
        (32, 4, {}, False),  # N = 4096: a dense Jacobian would have 16.8M elements
        (8, 2, {"block": False}, True),  # the dense adjoint outside the block, which the check must see
        (8, 2, {"linear": False}, True),  # the fallback for non-linear stages
    ],
    ids=["fft", "dense-adjoint", "nonlinear-fallback"],
)
def test_no_dense_jacobian_in_the_gradient(size, channels, options, dense):
    kernel, y0 = _kernel_and_state((size, size, channels), seed=7)
    options = dict(options)
    block = ixd.fft_adjoint() if options.pop("block", True) else contextlib.nullcontext()
    grad = jax.grad(_loss_fn(t1=1.0, rtol=1e-4, **options), argnums=(0, 1))
    n = size * size * channels
    with block:
        jaxpr = jax.make_jaxpr(grad)(jnp.asarray(kernel, jnp.float32), jnp.asarray(y0, jnp.float32))
    largest = _largest_intermediate(jaxpr)
    assert (largest >= n * n) == dense, (largest, n * n)


def test_backsolve_adjoint_with_an_iterating_fft_newton(x64):
    # BacksolveAdjoint never differentiates a root find: its backward solve runs Kvaerno3 on the
    # adjoint system, whose kernel-gradient leaf couples to the state and the adjoint, so the
    # stages iterate (linear=False). It agrees with differentiating the solve.
    kernel, y0 = map(jnp.asarray, _kernel_and_state((4, 5, 2), seed=8))

    def loss(kernel, adjoint):
        solver = diffrax.Kvaerno3(root_finder=ixd.FFTNewton(linear=False, rtol=1e-10, atol=1e-10))
        controller = diffrax.PIDController(rtol=1e-8, atol=1e-8)
        term = ixd.ConvDiffusionTerm(kernel * 0.5)
        sol = diffrax.diffeqsolve(term, solver, 0.0, 0.3, None, y0, stepsize_controller=controller, adjoint=adjoint)
        return jnp.sum(sol.ys[-1] ** 2)

    backsolve = jax.jit(jax.grad(lambda k: loss(k, diffrax.BacksolveAdjoint())))(kernel)
    recursive = jax.jit(jax.grad(lambda k: loss(k, diffrax.RecursiveCheckpointAdjoint())))(kernel)
    assert tree_allclose(backsolve, recursive, rtol=1e-6, atol=1e-8)
