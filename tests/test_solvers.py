"""The fixed-step solvers: measured convergence orders, amplification factors, and their form.

Every solver that `imexjax.solvers` exports runs through the contract tests (`helpers`).
The order tests follow diffrax's `test_ode_order`: integrate a linear problem with a known
exact solution (`scipy.linalg.expm`) for several step sizes, fit the slope of log(error)
against log(h), and compare it with the solver's declared `order`.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from helpers import all_solvers, conv_matrix, explicit_solvers, imex_solvers, solver_id, tree_allclose

import imexjax as ix
import imexjax.solvers

T_FINAL = 1.0


def _stable_matrix(seed: int, n: int) -> np.ndarray:
    """A random n x n matrix whose eigenvalues lie in the open left half-plane (skew - SPD)."""
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n, n))
    g = rng.standard_normal((n, n))
    return (s - s.T) / 2 - 0.2 * np.eye(n) - 0.1 * g @ g.T


def _fitted_order(step_sizes, errors) -> float:
    """The slope of log(error) against log(h), by least squares."""
    slope, _ = np.polyfit(np.log(step_sizes), np.log(errors), 1)
    return float(slope)


# --------------------------------------------------------------------------------------
# declared order and immutability
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_order_is_a_positive_int_class_attribute(solver):
    # The value itself is measured by the convergence tests below.
    cls = type(solver)
    assert type(cls.order) is int and cls.order >= 1
    assert solver.order == cls.order


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_stages_counts_the_vector_field_evaluations_of_a_step(solver):
    # `stages` decides where batch normalization fits (one set of statistics per step), so it
    # must be the number of calls a step makes to the (explicit) field, counted here.
    calls = []

    def field(t, y, b):
        calls.append(t)
        return b @ y

    y0 = jnp.ones(3)
    b = jnp.asarray(_stable_matrix(0, 3))
    if solver.imex:
        a = -jnp.eye(3)
        solver.step((field, DenseLinearTerm()), 0.0, y0, (b, a), 0.1)
    else:
        solver.step(field, 0.0, y0, b, 0.1)
    assert type(type(solver).stages) is int
    assert len(calls) == solver.stages


@pytest.mark.parametrize("solver", all_solvers(), ids=solver_id)
def test_solvers_are_immutable_and_hashable(solver):
    with pytest.raises(dataclasses.FrozenInstanceError):
        solver.order = 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        solver.anything = 1
    # Equal and hashable, so a solver can be a static argument of `jax.jit`.
    assert solver == type(solver)()
    assert hash(solver) == hash(type(solver)())


# --------------------------------------------------------------------------------------
# convergence orders
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", explicit_solvers(), ids=solver_id)
@pytest.mark.parametrize("problem", ["autonomous", "time-dependent"])
def test_explicit_solver_order(x64, solver, problem):
    # autonomous:      y' = A y,         y(t0 + T) = expm(T A) y0
    # time-dependent:  y' = cos(t) A y,  y(t0 + T) = expm((sin(t0 + T) - sin(t0)) A) y0
    # (A commutes with itself, so the second is exact too); it checks that the solver
    # evaluates the field at the right intermediate times, from t0.
    n = 4
    a = _stable_matrix(0, n)
    y0 = np.random.default_rng(1).standard_normal(n)
    t0 = 0.0 if problem == "autonomous" else 0.3
    exponent = T_FINAL * a if problem == "autonomous" else (np.sin(t0 + T_FINAL) - np.sin(t0)) * a
    exact = scipy.linalg.expm(exponent) @ y0

    def field(t, y, a_n):
        rate = a_n @ y
        return rate if problem == "autonomous" else jnp.cos(t) * rate

    steps = [8, 16, 32, 64]
    errors = []
    for num_steps in steps:
        per_step_a = jnp.broadcast_to(jnp.asarray(a), (num_steps, n, n))  # args: one copy per step
        y1 = ix.integrate(solver, field, jnp.asarray(y0), per_step_a, h=T_FINAL / num_steps, t0=t0)
        errors.append(float(jnp.max(jnp.abs(y1 - exact))))
    order = _fitted_order([T_FINAL / s for s in steps], errors)
    assert abs(order - solver.order) < 0.3, (order, errors)


@dataclasses.dataclass(frozen=True)
class DenseLinearTerm:
    """A linear term `A y`, A symmetric, given by a dense matrix in its args.

    `resolve` is a dense solve; `exp`, `phi1` and `phi2` apply `exp(z)`, `expm1(z) / z` and
    `(expm1(z) - z) / z^2` to the eigenvalues `z` of `h A` (`jnp.linalg.eigh`), independently
    of the library's phi functions.
    """

    def mv(self, y, a):
        return a @ y

    def resolve(self, h, b, a):
        return jnp.linalg.solve(jnp.eye(a.shape[0], dtype=a.dtype) - h * a, b)

    def _apply(self, function, h, b, a):
        eigenvalues, vectors = jnp.linalg.eigh(a)
        return vectors @ (function(h * eigenvalues) * (vectors.T @ b))

    def exp(self, h, b, a):
        return self._apply(jnp.exp, h, b, a)

    def phi1(self, h, b, a):
        return self._apply(lambda z: jnp.expm1(z) / z, h, b, a)

    def phi2(self, h, b, a):
        return self._apply(lambda z: (jnp.expm1(z) - z) / z**2, h, b, a)


@pytest.mark.parametrize("solver", imex_solvers(), ids=solver_id)
def test_a_paper_step_is_the_step_of_the_split_field(x64, solver):
    # Overrides of paper_step (closed forms with fewer products) must equal the definition:
    # the solver's step on the explicit field f - A y and the implicit A y.
    rng = np.random.default_rng(5)
    b = jnp.asarray(_stable_matrix(1, 4))
    a = jnp.asarray(-(lambda m: m @ m.T)(rng.standard_normal((4, 4))))
    y0 = jnp.asarray(rng.standard_normal(4))

    def field(t, y, b_n):
        return (1.0 + t) * (b_n @ y)

    terms, args = (field, DenseLinearTerm()), (b, a)
    defined = ix.AbstractSolver.paper_step(solver, terms, 0.2, y0, args, 0.3)
    paper_step = solver.paper_step(terms, 0.2, y0, args, 0.3)
    assert tree_allclose(paper_step, defined, rtol=1e-12, atol=1e-12)
    assert tree_allclose(imexjax.solvers.PaperForm(solver).step(terms, 0.2, y0, args, 0.3), paper_step, rtol=0, atol=0)


@pytest.mark.parametrize("solver", imex_solvers(), ids=solver_id)
@pytest.mark.parametrize("form", imexjax.solvers.IMEX_FORMS)
def test_imex_order_with_conv_diffusion(x64, solver, form):
    # A tiny (H, W, C) state; B acts on the channel axis, L = C^T C is built densely from
    # the definition of C. code form: y' = B y - L y (explicit B y, implicit -L y);
    # paper form: y' = B y (explicit B y + L y, implicit -L y).
    height, width, channels = 4, 5, 2
    rng = np.random.default_rng(2)
    b = rng.standard_normal((channels, channels)) * 0.5
    kernel = rng.standard_normal((3, 3, channels)) * 0.3
    y0 = rng.standard_normal((height, width, channels))
    c = conv_matrix(kernel, height, width)
    channel_b = np.kron(np.eye(height * width), b)
    full = channel_b - c.T @ c if form == "code" else channel_b
    exact = (scipy.linalg.expm(T_FINAL * full) @ y0.reshape(-1)).reshape(y0.shape)

    implicit = ix.ConvDiffusion()
    stepper = imexjax.solvers.in_form(solver, form)  # paper: PaperForm(solver), splitting y' = B y

    def f_explicit(t, y, args):
        b_n, kernel_n = args
        return y @ b_n.T

    steps = [16, 32, 64, 128]
    errors = []
    for num_steps in steps:
        b_steps = jnp.broadcast_to(jnp.asarray(b), (num_steps,) + b.shape)
        k_steps = jnp.broadcast_to(jnp.asarray(kernel), (num_steps,) + kernel.shape)
        y1 = ix.integrate(
            stepper,
            (f_explicit, implicit),
            jnp.asarray(y0),
            ((b_steps, k_steps), k_steps),
            h=T_FINAL / num_steps,
        )
        errors.append(float(jnp.max(jnp.abs(y1 - exact))))
    order = _fitted_order([T_FINAL / s for s in steps], errors)
    assert abs(order - solver.order) < 0.3, (order, errors)


@pytest.mark.parametrize("solver", imex_solvers(), ids=solver_id)
def test_imex_order_with_a_time_dependent_field(x64, solver):
    # y' = s(t) B y - C^T C y with s(t) = 1 + t, from t0 = 0.25: the explicit term must be
    # evaluated at the solver's stage times. B = beta I commutes with C^T C, so the exact
    # solution is expm(beta (S(t0 + T) - S(t0)) - T C^T C) y0 with S(t) = t + t^2 / 2.
    height, width, channels = 4, 4, 2
    rng = np.random.default_rng(4)
    kernel = rng.standard_normal((3, 3, channels)) * 0.6
    y0 = rng.standard_normal((height, width, channels))
    beta, t0 = -0.7, 0.25
    c = conv_matrix(kernel, height, width)
    integral = (t0 + T_FINAL + 0.5 * (t0 + T_FINAL) ** 2) - (t0 + 0.5 * t0**2)
    exponent = integral * beta * np.eye(c.shape[0]) - T_FINAL * c.T @ c
    exact = (scipy.linalg.expm(exponent) @ y0.reshape(-1)).reshape(y0.shape)

    def f_explicit(t, y, beta_n):
        return (1.0 + t) * beta_n * y

    steps = [8, 16, 32]
    errors = []
    for num_steps in steps:
        kernels = jnp.broadcast_to(jnp.asarray(kernel), (num_steps,) + kernel.shape)
        y1 = ix.integrate(
            solver,
            (f_explicit, ix.ConvDiffusion()),
            jnp.asarray(y0),
            (jnp.full((num_steps,), beta), kernels),
            h=T_FINAL / num_steps,
            t0=t0,
        )
        errors.append(float(jnp.max(jnp.abs(y1 - exact))))
    order = _fitted_order([T_FINAL / s for s in steps], errors)
    assert abs(order - solver.order) < 0.3, (order, errors)


@pytest.mark.parametrize("solver", imex_solvers(), ids=solver_id)
def test_imex_order_with_a_custom_linear_term(x64, solver):
    # Any object with .mv and .resolve is a linear term: y' = B y + A y, A stiff-ish SPD.
    n = 5
    rng = np.random.default_rng(3)
    b = _stable_matrix(4, n)
    g = rng.standard_normal((n, n))
    a = -(g @ g.T) / n
    y0 = rng.standard_normal(n)
    exact = scipy.linalg.expm(T_FINAL * (b + a)) @ y0

    steps = [16, 32, 64, 128]
    errors = []
    for num_steps in steps:
        b_steps = jnp.broadcast_to(jnp.asarray(b), (num_steps, n, n))
        a_steps = jnp.broadcast_to(jnp.asarray(a), (num_steps, n, n))
        y1 = ix.integrate(
            solver,
            (lambda t, y, b_n: b_n @ y, DenseLinearTerm()),
            jnp.asarray(y0),
            (b_steps, a_steps),
            h=T_FINAL / num_steps,
        )
        errors.append(float(jnp.max(jnp.abs(y1 - exact))))
    order = _fitted_order([T_FINAL / s for s in steps], errors)
    assert abs(order - solver.order) < 0.3, (order, errors)


def test_imex_euler_step_formula_with_a_custom_linear_term(x64):
    # y1 = (I - h A)^{-1} (y0 + h f(t0, y0)), checked with an independent numpy solve.
    n = 3
    rng = np.random.default_rng(5)
    a = -np.eye(n) - 0.3 * rng.standard_normal((n, n))
    y0 = rng.standard_normal(n)
    h, t0 = 0.4, 1.5

    def field(t, y, scale):
        return scale * jnp.sin(y) * t

    y1 = ix.IMEXEuler().step((field, DenseLinearTerm()), t0, jnp.asarray(y0), (2.0, jnp.asarray(a)), h)
    expected = np.linalg.solve(np.eye(n) - h * a, y0 + h * 2.0 * np.sin(y0) * t0)
    assert tree_allclose(y1, expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# amplification factors on the test equation y' = lambda y (absolute stability)
# --------------------------------------------------------------------------------------

LAMBDAS = [-3.0, 0.5, -1.0 + 2.0j, 0.3 - 4.0j]


def _complex_field(lam):
    """y' = lam * y on a real state (..., 2) holding (re, im) of a complex number."""

    def field(t, y, args):
        re, im = y[..., 0], y[..., 1]
        return jnp.stack([lam.real * re - lam.imag * im, lam.imag * re + lam.real * im], axis=-1)

    return field


def _as_complex(y):
    y = np.asarray(y)
    return y[..., 0] + 1j * y[..., 1]


@pytest.mark.parametrize("lam", LAMBDAS, ids=str)
@pytest.mark.parametrize("h", [0.25, 1.0])
@pytest.mark.parametrize("alpha", [0.5, 10.0])
@pytest.mark.parametrize("form", ["paper", "code"])
def test_imex_euler_amplification_factor(x64, lam, h, alpha, form):
    # L = alpha I through ConvDiffusion: a 3x3 kernel that is zero except sqrt(alpha) at the
    # centre gives C = sqrt(alpha) I. Paper form (explicit lam y + alpha y, implicit
    # -alpha y): y1 = (1 + h lam + h alpha) / (1 + h alpha) y0. Code form (explicit lam y):
    # y1 = (1 + h lam) / (1 + h alpha) y0.
    lam = complex(lam)
    kernel = np.zeros((3, 3, 2))
    kernel[1, 1, :] = np.sqrt(alpha)
    implicit = ix.ConvDiffusion()
    field = _complex_field(lam)
    if form == "paper":

        def f_explicit(t, y, k):
            return field(t, y, None) - implicit.mv(y, k)

        factor = (1 + h * lam + h * alpha) / (1 + h * alpha)
    else:

        def f_explicit(t, y, k):
            return field(t, y, None)

        factor = (1 + h * lam) / (1 + h * alpha)
    y0 = np.random.default_rng(6).standard_normal((4, 5, 2))
    y1 = ix.IMEXEuler().step((f_explicit, implicit), 0.0, jnp.asarray(y0), (jnp.asarray(kernel),) * 2, h)
    assert tree_allclose(_as_complex(y1), factor * _as_complex(y0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lam", LAMBDAS, ids=str)
@pytest.mark.parametrize("h", [0.25, 1.0])
@pytest.mark.parametrize("solver", explicit_solvers(), ids=solver_id)
def test_explicit_amplification_factor(x64, solver, lam, h):
    # One step multiplies y by the stability polynomial: Euler 1 + z, Midpoint 1 + z + z^2/2,
    # RK4 1 + z + z^2/2 + z^3/6 + z^4/24, with z = h lam.
    z = h * complex(lam)
    factor = sum(z**p / np.prod(np.arange(1, p + 1)) for p in range(solver.order + 1))
    y0 = np.random.default_rng(7).standard_normal((3, 2))
    y1 = solver.step(_complex_field(complex(lam)), 0.0, jnp.asarray(y0), None, h)
    assert tree_allclose(_as_complex(y1), factor * _as_complex(y0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("solver", imex_solvers(), ids=solver_id)
def test_imex_damps_a_stiff_decay_that_forward_euler_amplifies(x64, solver):
    # A stiff decay that forward Euler amplifies (|1 + h lam| > 1) is damped by an IMEX
    # solver with the same dynamics (paper form: explicit lam y + alpha y, implicit -alpha y).
    lam, alpha, h = -30.0, 30.0, 0.2
    kernel = np.zeros((3, 3, 1))
    kernel[1, 1, 0] = np.sqrt(alpha)
    implicit = ix.ConvDiffusion()
    y0 = jnp.ones((3, 3, 1))

    def f(t, y, args):
        return lam * y

    num_steps = 10
    kernels = jnp.broadcast_to(jnp.asarray(kernel), (num_steps, 3, 3, 1))
    euler = ix.integrate(ix.Euler(), f, y0, None, h=h, num_steps=num_steps)
    imex = ix.integrate(
        solver, (lambda t, y, k: f(t, y, None) - implicit.mv(y, k), implicit), y0, (kernels, kernels), h=h
    )
    assert float(jnp.max(jnp.abs(euler))) > 1e3  # |1 - 6| ** 10
    assert float(jnp.max(jnp.abs(imex))) < 1.0  # IMEX Euler: |(1 - 6 + 6) / 7| ** 10
