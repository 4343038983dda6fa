"""The convolution and FFT-solve formulations that `benchmarks/` times compute what the library computes.

Each candidate of `benchmarks/conv_formulations.py` is checked against `imexjax.models.conv2d`
(forward and both gradients, odd and even grids, C_in != C_out), each candidate of
`benchmarks/fft_formulations.py` against `ConvDiffusion.resolve`, and both scripts run at tiny
sizes (no timings asserted).
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import load_script

import imexjax as ix
from imexjax.models import conv2d

pytestmark = pytest.mark.benchmark


def load(name: str):
    return load_script(f"benchmarks/{name}.py")


CONV = load("conv_formulations")
FFT = load("fft_formulations")


@pytest.mark.parametrize(
    ("name", "grid"),
    [("nchw", (7, 9)), ("shifted", (7, 9)), ("winograd2", (7, 9)), ("winograd2", (8, 8)), ("winograd4", (9, 10))],
)
def test_conv_candidates_match_conv2d_and_its_gradients(name, grid):
    key_y, key_k, key_g = jax.random.split(jax.random.key(0), 3)
    y = jax.random.normal(key_y, (2, *grid, 3))
    kernel = jax.random.normal(key_k, (3, 3, 3, 5))
    g = jax.random.normal(key_g, (2, *grid, 5))
    out, vjp = jax.vjp(jax.jit(CONV.CANDIDATES[name]), y, kernel)
    expected, expected_vjp = jax.vjp(conv2d, y, kernel)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    for value, reference in zip(vjp(g), expected_vjp(g), strict=True):
        np.testing.assert_allclose(value, reference, rtol=1e-4, atol=1e-4)


def test_conv_reference_is_the_definition():
    rng = np.random.default_rng(0)
    y, kernel = rng.standard_normal((1, 5, 6, 2)), rng.standard_normal((3, 3, 2, 4))
    np.testing.assert_allclose(CONV.reference(y, kernel), conv2d(jnp.asarray(y), jnp.asarray(kernel)), atol=1e-5)


@pytest.mark.parametrize("name", ["last", "rfft_h", "dft_h", "halves"])
@pytest.mark.parametrize("grid", [(8, 8), (9, 6)])
def test_fft_candidates_match_resolve(name, grid):
    key_b, key_k = jax.random.split(jax.random.key(1))
    b = jax.random.normal(key_b, (2, *grid, 3))
    kernel = jax.random.normal(key_k, (3, 3, 3))
    solve = getattr(FFT, f"solve_{name}")
    np.testing.assert_allclose(solve(0.5, b, kernel), ix.ConvDiffusion().resolve(0.5, b, kernel), atol=1e-5)


def test_scipy_solve_and_its_gradient_match_resolve():
    key_b, key_k, key_g = jax.random.split(jax.random.key(2), 3)
    b, g = jax.random.normal(key_b, (2, 6, 7, 2)), jax.random.normal(key_g, (2, 6, 7, 2))
    kernel = jax.random.normal(key_k, (3, 3, 2))
    solve = FFT.make_scipy(0.5, kernel, 6, 7)
    resolve = ix.ConvDiffusion().resolve
    np.testing.assert_allclose(solve(b), resolve(0.5, b, kernel), atol=1e-5)
    gradient = jax.grad(lambda b: jnp.sum(g * solve(b)))(b)
    np.testing.assert_allclose(gradient, jax.grad(lambda b: jnp.sum(g * resolve(0.5, b, kernel)))(b), atol=1e-5)


def test_conv_formulations_times_every_candidate_and_reports_errors(capsys):
    options = ["--widths", "2", "--batch", "1", "--size", "6", "--steps", "2", "--repeats", "5", "--json"]
    result = CONV.main([*options, "--candidates", "conv2d", "nchw", "--skip-rolled", "nchw"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    for what in ("fwd", "dy", "dk", "scan", "unrolled"):
        assert result[f"w2_conv2d_{what}_ms"] > 0
    assert "w2_nchw_scan_ms" not in result and result["w2_matmul_fwd_ms"] > 0
    errors = CONV.main(["--errors", "--widths", "2", "--candidates", "conv2d", "winograd2", "--json"])["errors_w2"]
    assert errors["conv2d_float32_fwd"] < 1e-5 and errors["winograd2_bfloat16_dk"] < 0.1


def test_fft_formulations_times_every_candidate(capsys):
    result = FFT.main(["--shapes", "2x6x8x2", "--repeats", "5", "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    for name in ("resolve", "last", "rfft_h", "dft_h", "halves", "scipy"):
        assert result[f"2x6x8x2_{name}_fwd+bwd_ms"] > 0 and result[f"2x6x8x2_{name}_error"] < 1e-5
