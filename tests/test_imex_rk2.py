"""`IMEXRK2` (ARS(2,2,2)): measured order 2, its amplification factor, L-stability,
per-step args inside `integrate`, and its use as a network integrator."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from helpers import conv_matrix, tree_allclose

import imexjax as ix
from imexjax.models import INTEGRATORS
from imexjax.solvers._imex_rk2 import DELTA, GAMMA

T_FINAL = 1.0


def _fitted_order(step_sizes, errors) -> float:
    slope, _ = np.polyfit(np.log(step_sizes), np.log(errors), 1)
    return float(slope)


def _problem(seed=2, height=4, width=5, channels=2, kernel_scale=0.6):
    """y' = B y - C^T C y on a tiny (H, W, C) grid, with its dense exact solution at T_FINAL."""
    rng = np.random.default_rng(seed)
    b = rng.standard_normal((channels, channels)) * 0.5
    kernel = rng.standard_normal((3, 3, channels)) * kernel_scale
    y0 = rng.standard_normal((height, width, channels))
    c = conv_matrix(kernel, height, width)
    full = np.kron(np.eye(height * width), b) - c.T @ c
    exact = (scipy.linalg.expm(T_FINAL * full) @ y0.reshape(-1)).reshape(y0.shape)
    return b, kernel, y0, exact


def test_declared_order_and_form():
    solver = ix.IMEXRK2()
    assert type(ix.IMEXRK2.order) is int and solver.order == 2
    assert solver.imex
    assert solver == ix.IMEXRK2() and hash(solver) == hash(ix.IMEXRK2())
    with pytest.raises(dataclasses.FrozenInstanceError):
        solver.order = 3
    assert INTEGRATORS["imex2"] == ix.IMEXRK2()


def test_order_two_with_conv_diffusion(x64):
    # code form: explicit B y (acting on channels), implicit -C^T C y; oracle: expm.
    b, kernel, y0, exact = _problem()
    implicit = ix.ConvDiffusion()
    steps = [8, 16, 32, 64]
    errors = {ix.IMEXRK2(): [], ix.IMEXEuler(): []}
    for solver in errors:
        for num_steps in steps:
            b_steps = jnp.broadcast_to(jnp.asarray(b), (num_steps,) + b.shape)
            k_steps = jnp.broadcast_to(jnp.asarray(kernel), (num_steps,) + kernel.shape)
            y1 = ix.integrate(
                solver,
                (lambda t, y, b_n: y @ b_n.T, implicit),
                jnp.asarray(y0),
                (b_steps, k_steps),
                h=T_FINAL / num_steps,
            )
            errors[solver].append(float(jnp.max(jnp.abs(y1 - exact))))
    order = _fitted_order([T_FINAL / s for s in steps], errors[ix.IMEXRK2()])
    assert abs(order - 2) < 0.3, (order, errors)
    # and it is far more accurate than IMEX Euler at the same step
    assert errors[ix.IMEXRK2()][-1] < 0.05 * errors[ix.IMEXEuler()][-1], errors


def test_order_two_with_time_dependent_per_step_args(x64):
    # y' = s(t) B y - C^T C y with s(t) = 1 + t: a time-dependent explicit term, evaluated
    # at the stage times t0 and t0 + gamma h of every step, and the per-step args of step n
    # are its own slices (b_n = B for all n, kernel_n = kernel), so integrate must give
    # step n slice n. The exact solution: B and C^T C commute here (B = beta I).
    height, width, channels = 4, 4, 2
    rng = np.random.default_rng(4)
    kernel = rng.standard_normal((3, 3, channels)) * 0.6
    y0 = rng.standard_normal((height, width, channels))
    beta = -0.7
    c = conv_matrix(kernel, height, width)
    t0 = 0.25
    integral = (t0 + T_FINAL + 0.5 * (t0 + T_FINAL) ** 2) - (t0 + 0.5 * t0**2)
    exact = (scipy.linalg.expm(integral * beta * np.eye(c.shape[0]) - T_FINAL * c.T @ c) @ y0.reshape(-1)).reshape(
        y0.shape
    )

    def f_explicit(t, y, beta_n):
        return (1.0 + t) * beta_n * y

    steps = [8, 16, 32]
    errors = []
    for num_steps in steps:
        betas = jnp.full((num_steps,), beta)
        kernels = jnp.broadcast_to(jnp.asarray(kernel), (num_steps,) + kernel.shape)
        y1 = ix.integrate(
            ix.IMEXRK2(),
            (f_explicit, ix.ConvDiffusion()),
            jnp.asarray(y0),
            (betas, kernels),
            h=T_FINAL / num_steps,
            t0=t0,
        )
        errors.append(float(jnp.max(jnp.abs(y1 - exact))))
    order = _fitted_order([T_FINAL / s for s in steps], errors)
    assert abs(order - 2) < 0.3, (order, errors)


def test_per_step_args_are_sliced(x64):
    # Two different kernels and explicit scales for two steps: integrate == two manual steps.
    rng = np.random.default_rng(5)
    y0 = jnp.asarray(rng.standard_normal((2, 5, 6, 3)))  # a batch axis in front
    kernels = jnp.asarray(rng.standard_normal((2, 3, 3, 3)))
    scales = jnp.asarray([0.5, -1.5])
    solver, implicit, h = ix.IMEXRK2(), ix.ConvDiffusion(zero_mean=True), 0.3

    def f(t, y, s):
        return s * jnp.tanh(y) * (1 + t)

    y1 = ix.integrate(solver, (f, implicit), y0, (scales, kernels), h=h, t0=0.1)
    manual = solver.step((f, implicit), 0.1, y0, (scales[0], kernels[0]), h)
    manual = solver.step((f, implicit), 0.1 + h, manual, (scales[1], kernels[1]), h)
    assert tree_allclose(y1, manual, rtol=1e-12, atol=1e-12)
    swapped = ix.integrate(solver, (f, implicit), y0, (scales[::-1], kernels[::-1]), h=h, t0=0.1)
    assert not tree_allclose(swapped, manual, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("z", [0.0, -0.5, 0.3 + 0.4j, -1.0 - 2.0j])
@pytest.mark.parametrize("w", [0.0, -0.7, -50.0])
def test_amplification_factor(x64, z, w):
    # y' = lam y (explicit) + mu y (implicit, mu = -alpha via a centre-only kernel), h = 1.
    # R(z, w) = (1 + delta z + ((1 - delta) z + (1 - g) w)(1 + g z) / d) / d, d = 1 - g w.
    z = complex(z)
    g, d = GAMMA, 1.0 - GAMMA * w
    factor = (1 + DELTA * z + ((1 - DELTA) * z + (1 - g) * w) * (1 + g * z) / d) / d
    kernel = np.zeros((3, 3, 2))
    kernel[1, 1, :] = np.sqrt(-w)

    def field(t, y, args):
        re, im = y[..., 0], y[..., 1]
        return jnp.stack([z.real * re - z.imag * im, z.imag * re + z.real * im], axis=-1)

    y0 = np.random.default_rng(6).standard_normal((3, 4, 2))
    y1 = np.asarray(ix.IMEXRK2().step((field, ix.ConvDiffusion()), 0.0, jnp.asarray(y0), (None, kernel), 1.0))
    assert tree_allclose(y1[..., 0] + 1j * y1[..., 1], factor * (y0[..., 0] + 1j * y0[..., 1]), rtol=1e-12, atol=1e-12)
    # the pure implicit part is the second-order SDIRK function, which vanishes at -inf
    if z == 0:
        assert abs(factor - (1 + (1 - 2 * g) * w) / d**2) < 1e-12


def test_analysis_amplification_factor_runs_it(x64):
    # imexjax.analysis steps the solver on the test equation (paper form: explicit
    # (lambda + alpha) y, implicit -alpha y): the closed form with z + h alpha and w = -h alpha.
    from imexjax.analysis import amplification_factor

    z = np.array([0.0, -0.5, 0.3 + 0.4j, -3.0 - 2.0j])
    for h_alpha in (0.0, 2.0, 40.0):
        ze, w = z + h_alpha, -h_alpha
        d = 1.0 - GAMMA * w
        closed = (1 + DELTA * ze + ((1 - DELTA) * ze + (1 - GAMMA) * w) * (1 + GAMMA * ze) / d) / d
        factor = amplification_factor(ix.IMEXRK2(), z, h_alpha=h_alpha)
        assert tree_allclose(factor, closed, rtol=1e-12, atol=1e-12)


def test_l_stable_on_very_stiff_diffusion():
    # A huge diffusion (h |c|^2 ~ 1e6) is damped to ~0 in one step (L-stability), while
    # a constant (the kernel's null space with zero_mean) is kept exactly.
    kernel = 1e3 * jnp.asarray(np.random.default_rng(7).standard_normal((3, 3, 1)), jnp.float32)
    y0 = jnp.asarray(np.random.default_rng(8).standard_normal((16, 16, 1)), jnp.float32)
    implicit = ix.ConvDiffusion(zero_mean=True)
    y1 = ix.IMEXRK2().step((lambda t, y, a: jnp.zeros_like(y), implicit), 0.0, y0, (None, kernel), 1.0)
    assert y1.dtype == jnp.float32
    mean = jnp.mean(y0)
    assert float(jnp.max(jnp.abs(y1 - mean))) < 1e-2 * float(jnp.max(jnp.abs(y0 - mean)))
    assert abs(float(jnp.mean(y1) - mean)) < 1e-5


def test_grad_and_network_integrator():
    # jit + grad through integrate, and a TimeSteppingNet built on "imex2" runs.
    from flax import nnx

    from imexjax.models import TimeSteppingNet

    y0 = jnp.ones((1, 8, 8, 2)) * jnp.arange(2.0)
    kernels = 0.3 * jnp.ones((3, 3, 3, 2))

    @jax.jit
    def loss(kernels):
        y = ix.integrate(ix.IMEXRK2(), (lambda t, y, a: jnp.sin(y), ix.ConvDiffusion()), y0, (kernels, kernels), h=0.5)
        return jnp.sum(y**2)

    grad = jax.grad(loss)(kernels)
    assert grad.shape == kernels.shape and bool(jnp.all(jnp.isfinite(grad)))

    net = TimeSteppingNet(((3, 2),), in_channels=1, num_outputs=3, integrator="imex2", rngs=nnx.Rngs(0))
    out = nnx.jit(lambda net, x: net(x))(net, jnp.ones((1, 6, 6, 1)))
    assert out.shape == (1, 6, 6, 3) and bool(jnp.all(jnp.isfinite(out)))
