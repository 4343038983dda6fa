"""`IMEXRK2` (ARS(2,2,2)): its amplification factor, L-stability, and its accuracy.

The contracts every solver meets (measured order, `integrate` under jit, vmap, grad and
remat, networks built on `imex2`) run in test_solvers, test_integrate and test_models.
"""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from helpers import conv_matrix, solver_id, tree_allclose

import imexjax as ix

T_FINAL = 1.0
GAMMA = 1.0 - 1.0 / np.sqrt(2.0)  # ARS(2,2,2)'s tableaus, written out here, not read from the solver
DELTA = 1.0 - 1.0 / (2.0 * GAMMA)


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


def test_more_accurate_than_imex_euler_at_the_same_step(x64):
    # code form: explicit B y (acting on channels), implicit -C^T C y; oracle: expm. Both
    # orders are measured by test_solvers; this is what the second one buys at h = 1/64.
    b, kernel, y0, exact = _problem()
    num_steps = 64
    b_steps = jnp.broadcast_to(jnp.asarray(b), (num_steps,) + b.shape)
    k_steps = jnp.broadcast_to(jnp.asarray(kernel), (num_steps,) + kernel.shape)
    errors = {}
    for solver in (ix.IMEXRK2(), ix.IMEXEuler()):
        y1 = ix.integrate(
            solver,
            (lambda t, y, b_n: y @ b_n.T, ix.ConvDiffusion()),
            jnp.asarray(y0),
            (b_steps, k_steps),
            h=T_FINAL / num_steps,
        )
        errors[solver_id(solver)] = float(jnp.max(jnp.abs(y1 - exact)))
    assert errors["IMEXRK2"] < 0.05 * errors["IMEXEuler"], errors


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


@pytest.mark.parametrize("z", [0.0, -0.5, 0.3 + 0.4j])
def test_amplification_factor_vanishes_as_the_implicit_part_stiffens(x64, z):
    # L-stability of the implicit part: R(z, w) -> 0 as w -> -inf for fixed z, measured on steps.
    z = complex(z)

    def field(t, y, args):
        re, im = y[..., 0], y[..., 1]
        return jnp.stack([z.real * re - z.imag * im, z.imag * re + z.real * im], axis=-1)

    y0 = jnp.asarray(np.random.default_rng(7).standard_normal((3, 4, 2)))
    sizes = []
    for w in (-1e2, -1e4, -1e6):
        kernel = np.zeros((3, 3, 2))
        kernel[1, 1, :] = np.sqrt(-w)
        y1 = ix.IMEXRK2().step((field, ix.ConvDiffusion()), 0.0, y0, (None, jnp.asarray(kernel)), 1.0)
        sizes.append(float(jnp.max(jnp.abs(y1)) / jnp.max(jnp.abs(y0))))
    assert sizes[0] > sizes[1] > sizes[2] and sizes[2] < 1e-5, sizes


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
