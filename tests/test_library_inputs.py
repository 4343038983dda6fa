"""Inputs at the edges of the library API: each either works as documented or raises one line naming the argument.

Singular operators are reported by the FFT lineax solver (`RESULTS.singular`, in float32 and
under `jit`), and what a time-stepping driver, a network or a diffrax solver cannot use is
refused before any computation: non-symmetric `reflect` kernels, step sizes the state's dtype
cannot hold, images with the wrong channels or rank, networks too large for the machine, and
diffrax terms of the wrong shape.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import conv_matrix, tree_allclose

LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])  # sums to zero: C^T C annihilates constants


# --------------------------------------------------------------------------------------
# FFTLinearSolver: singular spectra


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("zero_mean", [False, True], ids=["laplacian", "projected"])
def test_fft_linear_solver_reports_a_singular_operator_in_float32(jit, zero_mean):
    lx = pytest.importorskip("lineax")
    ixd = pytest.importorskip("imexjax.diffrax")
    rng = np.random.default_rng(0)
    kernel = jnp.asarray(np.stack([LAPLACIAN, rng.standard_normal((3, 3))], axis=-1), jnp.float32)
    if not zero_mean:
        kernel = kernel.at[..., 1].set(jnp.asarray(LAPLACIAN))  # exact zero sum, rounding-sized eigenvalue
    b = jnp.asarray(rng.standard_normal((2, 8, 8, 2)), jnp.float32)

    def solve(shift):
        operator = ixd.ConvDiffusionOperator(kernel, b, shift=shift, zero_mean=zero_mean)
        solution = lx.linear_solve(operator, b, ixd.FFTLinearSolver(), throw=False)
        return solution.value, solution.result

    solve = jax.jit(solve) if jit else solve
    _, result = solve(jnp.float32(0.0))
    assert result == lx.RESULTS.singular
    value, result = solve(jnp.float32(1.0))
    assert result == lx.RESULTS.successful
    centred = np.asarray(kernel, np.float64) - (np.asarray(kernel).mean(axis=(0, 1)) if zero_mean else 0)
    for c in range(2):
        normal = conv_matrix(centred[..., c : c + 1], 8, 8)
        dense = np.eye(64) + normal.T @ normal
        expected = np.linalg.solve(dense, np.asarray(b[..., c], np.float64).reshape(2, 64).T).T
        assert tree_allclose(np.asarray(value[..., c]).reshape(2, 64), expected, rtol=1e-4, atol=1e-4)


def test_fft_linear_solver_singular_result_raises_when_thrown():
    lx = pytest.importorskip("lineax")
    ixd = pytest.importorskip("imexjax.diffrax")
    kernel = jnp.asarray(LAPLACIAN[..., None], jnp.float32)
    b = jnp.ones((8, 8, 1), jnp.float32)
    with pytest.raises(Exception, match="non-finite"):
        lx.linear_solve(ixd.ConvDiffusionOperator(kernel, b, shift=0.0), b, ixd.FFTLinearSolver())
