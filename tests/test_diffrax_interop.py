"""`imexjax.diffrax`: IMEX solvers, ConvDiffusionTerm, FFTNewton and RK4 with diffrax.

Checked against `ix.integrate`, dense `expm` solutions, and diffrax's own solvers with
their default (dense Jacobian) root finder. Each `diffeqsolve` compiles for seconds, so
the problems are tiny and the number of distinct solves is kept small.
"""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from helpers import conv_matrix, imex_solvers, solver_id, tree_allclose

import imexjax as ix

diffrax = pytest.importorskip("diffrax")
optx = pytest.importorskip("optimistix")
ixd = pytest.importorskip("imexjax.diffrax")

HEIGHT, WIDTH, CHANNELS = 4, 5, 2


def _problem(seed=2):
    """y' = B y - C^T C y on a (4, 5, 2) grid: B (on channels), kernel, y0, and the dense matrices."""
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((CHANNELS, CHANNELS)) * 0.5
    kernel = rng.standard_normal((3, 3, CHANNELS)) * 0.6
    y0 = rng.standard_normal((HEIGHT, WIDTH, CHANNELS))
    c = conv_matrix(kernel, HEIGHT, WIDTH)
    return b, kernel, y0, np.kron(np.eye(HEIGHT * WIDTH), b), c.T @ c


def _expm(matrix, y0, t=1.0):
    return (scipy.linalg.expm(t * matrix) @ y0.reshape(-1)).reshape(y0.shape)


def _channel_mix(t, y, b):
    return y @ b.T


def _imex_adapters() -> list:
    """An instance of every diffrax solver in `imexjax.diffrax` that runs an imexjax IMEX scheme."""
    return [
        value()
        for value in vars(ixd).values()
        if isinstance(value, type) and issubclass(value, diffrax.AbstractSolver) and getattr(value, "scheme", None)
        if value.scheme.imex
    ]


def test_import_imexjax_does_not_import_diffrax():
    code = "import sys, imexjax; assert 'diffrax' not in sys.modules and 'optimistix' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_imex_solver_has_a_diffrax_adapter():
    assert sorted(solver_id(adapter.scheme) for adapter in _imex_adapters()) == sorted(map(solver_id, imex_solvers()))


@pytest.mark.parametrize("solver", _imex_adapters(), ids=solver_id)
def test_imex_solvers_match_integrate(x64, solver):
    # A time-dependent explicit field from t0 = 0.3: the stages see the times of the scheme.
    b, kernel, y0, _, _ = _problem()
    n, t0 = 16, 0.3

    def field(t, y, b):
        return (1.0 + t) * _channel_mix(t, y, b)

    terms = diffrax.MultiTerm(diffrax.ODETerm(field), ixd.ConvDiffusionTerm(jnp.asarray(kernel)))
    sol = diffrax.diffeqsolve(
        terms,
        solver,
        t0,
        t0 + 1.0,
        1.0 / n,
        jnp.asarray(y0),
        args=jnp.asarray(b),
        stepsize_controller=diffrax.ConstantStepSize(),
    )
    expected = ix.integrate(
        solver.scheme,
        (field, ix.ConvDiffusion()),
        jnp.asarray(y0),
        (jnp.broadcast_to(b, (n,) + b.shape), jnp.broadcast_to(kernel, (n,) + kernel.shape)),
        h=1.0 / n,
        t0=t0,
    )
    assert solver.order(terms) == solver.scheme.order
    assert tree_allclose(sol.ys[-1], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("solver", _imex_adapters(), ids=solver_id)
def test_imex_solvers_with_a_zero_mean_term_match_integrate(x64, solver):
    b, kernel, y0, _, _ = _problem()
    n = 8
    terms = diffrax.MultiTerm(diffrax.ODETerm(_channel_mix), ixd.ConvDiffusionTerm(jnp.asarray(kernel), zero_mean=True))
    sol = diffrax.diffeqsolve(terms, solver, 0.0, 1.0, 1.0 / n, jnp.asarray(y0), args=jnp.asarray(b))
    expected = ix.integrate(
        solver.scheme,
        (_channel_mix, ix.ConvDiffusion(zero_mean=True)),
        jnp.asarray(y0),
        (jnp.broadcast_to(b, (n,) + b.shape), jnp.broadcast_to(kernel, (n,) + kernel.shape)),
        h=1.0 / n,
    )
    assert tree_allclose(sol.ys[-1], expected, rtol=1e-12, atol=1e-12)


def test_imex_solvers_refuse_an_implicit_term_that_is_not_a_conv_diffusion_term():
    # diffeqsolve checks the terms against the solver's term structure; a step called directly
    # (a hand-written loop) gets the solver's own error.
    terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, args: y), diffrax.ODETerm(lambda t, y, args: -y))
    with pytest.raises(Exception, match="ConvDiffusionTerm"):
        diffrax.diffeqsolve(terms, ixd.IMEXEuler(), 0.0, 1.0, 0.5, jnp.ones((4, 5, 2)))
    with pytest.raises(TypeError, match="the implicit term must be an imexjax.diffrax.ConvDiffusionTerm, got ODETerm"):
        ixd.IMEXEuler().step(terms, 0.0, 0.5, jnp.ones((4, 5, 2)), None, None, made_jump=False)


def test_fft_newton_solves_a_linear_stage_in_one_step(x64):
    # diffrax's k-space stage relation k - dt A (y_partial + a k) = 0 (A = -C^T C), solved by
    # optx.root_find with one Newton step allowed, equals the dense solve.
    _, kernel, y_partial, _, l_dense = _problem()
    term = ixd.ConvDiffusionTerm(jnp.asarray(kernel))
    a, dt = 0.4358665215, 0.7

    def relation(k, args):
        return k - term.vf_prod(0.0, y_partial + a * k, None, dt)

    sol = optx.root_find(relation, ixd.FFTNewton(), jnp.zeros_like(jnp.asarray(y_partial)), max_steps=1)
    n = l_dense.shape[0]
    dense = np.linalg.solve(np.eye(n) + a * dt * l_dense, -dt * l_dense @ y_partial.reshape(-1))
    assert sol.result == optx.RESULTS.successful
    assert tree_allclose(sol.value, dense.reshape(y_partial.shape), rtol=1e-10, atol=1e-12)
    # with a non-linear stage it iterates (linear=False) to the tolerance, like a chord method
    nonlinear = optx.root_find(
        lambda k, args: relation(k, args) - 0.1 * jnp.sin(k),
        ixd.FFTNewton(rtol=1e-10, atol=1e-10, linear=False),
        jnp.zeros_like(jnp.asarray(y_partial)),
        max_steps=50,
    )
    assert nonlinear.stats["num_steps"] > 2
    residual = relation(nonlinear.value, None) - 0.1 * jnp.sin(nonlinear.value)
    assert float(jnp.max(jnp.abs(residual))) < 1e-8


def test_kencarp4_with_fft_newton_against_expm(x64):
    b, kernel, y0, mix, l_dense = _problem()
    terms = diffrax.MultiTerm(diffrax.ODETerm(_channel_mix), ixd.ConvDiffusionTerm(jnp.asarray(kernel)))
    sol = diffrax.diffeqsolve(
        terms,
        diffrax.KenCarp4(root_finder=ixd.FFTNewton()),
        0.0,
        1.0,
        None,
        jnp.asarray(y0),
        args=jnp.asarray(b),
        stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-8),
    )
    assert tree_allclose(sol.ys[-1], _expm(mix - l_dense, y0), rtol=0, atol=1e-6)


def test_implicit_solvers_on_pure_diffusion(x64):
    # ImplicitEuler (its own stage layout) at fixed steps is exactly IMEX Euler with f = 0;
    # adaptive Kvaerno3 matches expm(-C^T C).
    _, kernel, y0, _, l_dense = _problem()
    term = ixd.ConvDiffusionTerm(jnp.asarray(kernel))
    n = 8
    sol = diffrax.diffeqsolve(
        term,
        diffrax.ImplicitEuler(root_finder=ixd.FFTNewton()),
        0.0,
        1.0,
        1.0 / n,
        jnp.asarray(y0),
        stepsize_controller=diffrax.ConstantStepSize(),
    )
    kernels = jnp.broadcast_to(kernel, (n,) + kernel.shape)
    expected = ix.integrate(
        ix.IMEXEuler(),
        (lambda t, y, a: jnp.zeros_like(y), ix.ConvDiffusion()),
        jnp.asarray(y0),
        (kernels, kernels),
        h=1.0 / n,
    )
    assert tree_allclose(sol.ys[-1], expected, rtol=1e-10, atol=1e-12)
    sol = diffrax.diffeqsolve(
        term,
        diffrax.Kvaerno3(root_finder=ixd.FFTNewton()),
        0.0,
        1.0,
        None,
        jnp.asarray(y0),
        stepsize_controller=diffrax.PIDController(rtol=1e-7, atol=1e-7),
    )
    assert tree_allclose(sol.ys[-1], _expm(-l_dense, y0), rtol=0, atol=1e-5)


def test_gradient_through_diffeqsolve_with_fft_newton(x64):
    # Reverse mode through adaptive KenCarp4 with the FFT root finder (optimistix
    # differentiates each stage by the implicit function theorem, inside fft_adjoint() by
    # FFT solves), against a central finite difference of the same jitted function.
    b, kernel, y0, _, _ = _problem()

    @jax.jit
    @jax.value_and_grad
    def loss(k):
        terms = diffrax.MultiTerm(diffrax.ODETerm(_channel_mix), ixd.ConvDiffusionTerm(k))
        sol = diffrax.diffeqsolve(
            terms,
            diffrax.KenCarp4(root_finder=ixd.FFTNewton()),
            0.0,
            0.5,
            None,
            jnp.asarray(y0),
            args=jnp.asarray(b),
            stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-10),
        )
        return jnp.sum(sol.ys[-1] ** 2)

    k = jnp.asarray(kernel)
    with ixd.fft_adjoint():
        _, grad = loss(k)
    direction = jnp.asarray(np.random.default_rng(9).standard_normal(kernel.shape))
    eps = 1e-5
    finite_difference = (loss(k + eps * direction)[0] - loss(k - eps * direction)[0]) / (2 * eps)
    assert tree_allclose(jnp.vdot(grad, direction), finite_difference, rtol=1e-5, atol=1e-8)
    assert not tree_allclose(jnp.vdot(grad, direction), 1.01 * finite_difference, rtol=1e-5, atol=1e-8)


def test_kencarp4_float32_tight_tolerance():
    # float32, rtol = atol = 1e-6 on a 16 x 16 x 2 diffusion-reaction problem: with FFTNewton
    # KenCarp4 needs few steps and rejects none (diffrax's default VeryChord, whose
    # convergence test needs two iterations, rejects most steps at these tolerances).
    rng = np.random.default_rng(0)
    kernel = jnp.asarray(rng.standard_normal((3, 3, 2)), jnp.float32)
    y0 = jnp.asarray(rng.standard_normal((16, 16, 2)), jnp.float32)
    terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, a: jnp.sin(y)), ixd.ConvDiffusionTerm(kernel))
    sol = diffrax.diffeqsolve(
        terms,
        diffrax.KenCarp4(root_finder=ixd.FFTNewton()),
        0.0,
        1.0,
        None,
        y0,
        stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6),
        max_steps=200,
    )
    assert sol.ys.dtype == jnp.float32
    assert sol.result == diffrax.RESULTS.successful
    assert int(sol.stats["num_steps"]) < 40 and int(sol.stats["num_rejected_steps"]) <= 2
    # a reference: many fixed IMEXRK2 steps
    n = 256
    kernels = jnp.broadcast_to(kernel, (n,) + kernel.shape)
    reference = ix.integrate(
        ix.IMEXRK2(), (lambda t, y, a: jnp.sin(y), ix.ConvDiffusion()), y0, (kernels, kernels), h=1.0 / n
    )
    assert tree_allclose(sol.ys[-1], reference, rtol=0, atol=1e-4)


def test_rk4_matches_imexjax_rk4(x64):
    b = np.random.default_rng(3).standard_normal((3, 3))
    y0 = jnp.asarray(np.random.default_rng(4).standard_normal(3))

    def field(t, y, a):
        return jnp.cos(t) * (a @ y)

    n = 10
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        ixd.RK4(),
        0.3,
        1.3,
        0.1,
        y0,
        args=jnp.asarray(b),
        stepsize_controller=diffrax.ConstantStepSize(),
    )
    expected = ix.integrate(ix.RK4(), field, y0, jnp.broadcast_to(b, (n, 3, 3)), h=0.1, t0=0.3)
    assert ixd.RK4().order(None) == ix.RK4.order == 4
    assert tree_allclose(sol.ys[-1], expected, rtol=1e-12, atol=1e-12)
    exact = scipy.linalg.expm((np.sin(1.3) - np.sin(0.3)) * b) @ np.asarray(y0)
    assert tree_allclose(sol.ys[-1], exact, rtol=0, atol=1e-5)
    # adaptive: the error estimate is the difference from the midpoint rule (error order 3)
    adaptive = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        ixd.RK4(),
        0.3,
        1.3,
        0.1,
        y0,
        args=jnp.asarray(b),
        stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-9),
    )
    assert ixd.RK4().error_order(None) == 3
    assert adaptive.stats["num_accepted_steps"] > n
    assert tree_allclose(adaptive.ys[-1], exact, rtol=0, atol=1e-7)
