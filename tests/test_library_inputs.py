"""Inputs at the edges of the library API: each either works as documented or raises one line naming the argument.

Singular operators are reported by the FFT lineax solver (`RESULTS.singular`, in float32 and
under `jit`), and what a time-stepping driver, a network or a diffrax solver cannot use is
refused before any computation: non-symmetric `reflect` kernels, step sizes the state's dtype
cannot hold, images with the wrong channels or rank, networks too large for the machine, and
diffrax terms of the wrong shape.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import conv_matrix, tree_allclose

import imexjax as ix

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


# --------------------------------------------------------------------------------------
# integrate: reflect kernels


def _reflect_problem():
    rng = np.random.default_rng(1)
    quarters = jnp.asarray(rng.standard_normal((3, 2, 2, 2)), jnp.float32)
    kernels = jax.vmap(ix.symmetric_kernel)(quarters)  # (N=3, 3, 3, C=2), each symmetric under both flips
    y0 = jnp.asarray(rng.standard_normal((1, 5, 6, 2)), jnp.float32)
    return kernels, y0


def _relax(t, y, args):
    return -args * y


def test_integrate_refuses_a_concrete_reflect_kernel_that_resolve_refuses():
    kernels, y0 = _reflect_problem()
    asymmetric = kernels.at[2, 0, 1, 1].add(0.5)
    terms = (_relax, ix.ConvDiffusion(boundary="reflect"))
    args = (jnp.ones((3,)), asymmetric)
    with pytest.raises(ValueError, match="needs a kernel symmetric under flipping its rows"):
        ix.ConvDiffusion(boundary="reflect").resolve(0.5, y0, asymmetric[2])
    with pytest.raises(ValueError, match=r"flipping its rows .*, and args\[1\]\[2\] is not; build it with"):
        ix.integrate(ix.IMEXEuler(), terms, y0, args, h=0.5)
    # under jit the kernels cannot be checked: each step uses the mean of its kernel's four flips
    flips = 0.25 * (asymmetric + asymmetric[:, ::-1] + asymmetric[:, :, ::-1] + asymmetric[:, ::-1, ::-1])
    traced = jax.jit(lambda a: ix.integrate(ix.IMEXEuler(), terms, y0, a, h=0.5))(args)
    expected = ix.integrate(ix.IMEXEuler(), terms, y0, (args[0], flips), h=0.5)
    assert tree_allclose(traced, expected, rtol=1e-5, atol=1e-6)


def test_integrate_with_reflect_kernels_steps_as_resolve_does():
    kernels, y0 = _reflect_problem()
    diffusion = ix.ConvDiffusion(boundary="reflect")
    out = ix.integrate(ix.IMEXEuler(), (_relax, diffusion), y0, (jnp.ones((3,)), kernels), h=0.5)
    y = y0
    for kernel in kernels:
        y = diffusion.resolve(0.5, y + 0.5 * _relax(0.0, y, 1.0), kernel)
    assert tree_allclose(out, y, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------
# integrate: step sizes the state's dtype cannot hold


@pytest.mark.parametrize(
    "h,dtype", [(1e308, jnp.float32), (1e-40, jnp.float32), (1e5, jnp.float16), (1e39, jnp.bfloat16)], ids=str
)
def test_integrate_refuses_a_step_size_the_state_dtype_cannot_hold(h, dtype):
    y0 = jnp.ones((2, 3, 1), dtype)
    with pytest.raises(
        ValueError, match=re.escape(f"h={h:g} is beyond what the state's dtype {jnp.dtype(dtype)} holds")
    ):
        ix.integrate(ix.Euler(), lambda t, y, args: -y, y0, jnp.zeros((2,)), h=h)


def test_integrate_takes_a_large_step_the_dtype_holds():
    y = ix.integrate(
        ix.IMEXEuler(),
        (lambda t, y, a: 0 * y, ix.ConvDiffusion()),
        jnp.ones((1, 5, 5, 1)),
        (jnp.zeros((1,)), jnp.ones((1, 3, 3, 1))),
        h=1e30,
    )
    assert bool(jnp.all(jnp.isfinite(y)))


# --------------------------------------------------------------------------------------
# networks: images of the wrong channels or rank, sizes beyond the machine


def _networks():
    from flax import nnx

    from imexjax.models import MultiLevelNet, TimeSteppingNet, UNet

    return {
        "timestepping": lambda: TimeSteppingNet(((2, 2),), in_channels=1, num_outputs=2, rngs=nnx.Rngs(0)),
        "multilevel": lambda: MultiLevelNet(((1, 2), (2, 2)), in_channels=1, num_outputs=2, rngs=nnx.Rngs(0)),
        "unet": lambda: UNet(2, 2, in_channels=1, num_outputs=2, rngs=nnx.Rngs(0)),
    }


@pytest.mark.parametrize("network", ["timestepping", "multilevel", "unet"])
def test_networks_refuse_images_of_other_channels_or_rank_in_one_line(network):
    net = _networks()[network]()
    assert net(jnp.ones((1, 6, 6, 1))).shape == (1, 6, 6, 2)
    message = (
        "the images have 3 channels, but the network was built for in_channels=1; "
        "pass images of shape (batch, H, W, 1) or build the network with in_channels=3"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        net(jnp.ones((1, 6, 6, 3)))
    with pytest.raises(ValueError, match=re.escape("expected images of shape (batch, H, W, channels), got shape")):
        net(jnp.ones((6, 6, 1)))


def test_networks_too_large_for_the_machine_are_refused_before_allocating():
    from flax import nnx

    from imexjax.models import MultiLevelNet, TimeSteppingNet, UNet

    with pytest.raises(ValueError, match=r"UNet\(levels=40, base_width=1\) has at least .* use fewer levels"):
        UNet(40, 1, in_channels=1, num_outputs=1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"UNet\(levels=30, base_width=2\) has at least"):
        UNet(np.int64(30), np.int64(2), in_channels=1, num_outputs=1, rngs=nnx.Rngs(0))
    for network in (TimeSteppingNet, MultiLevelNet):
        with pytest.raises(ValueError, match=r"geometry \(\(3, 10000000\),\) has at least .* narrower layers"):
            network(((3, 10**7),), in_channels=1, num_outputs=1, rngs=nnx.Rngs(0))


# --------------------------------------------------------------------------------------
# diffrax IMEX solvers: the shape of the terms


def test_diffrax_imex_solvers_name_the_terms_they_take():
    diffrax = pytest.importorskip("diffrax")
    ixd = pytest.importorskip("imexjax.diffrax")
    kernel = jnp.asarray(LAPLACIAN[..., None], jnp.float32)
    y0 = jnp.ones((4, 5, 1), jnp.float32)
    explicit = diffrax.ODETerm(lambda t, y, args: -y)
    expected = (
        "the IMEX solvers take terms=MultiTerm(explicit_term, imexjax.diffrax.ConvDiffusionTerm(kernel)) of two terms"
    )
    three = diffrax.MultiTerm(explicit, ixd.ConvDiffusionTerm(kernel), explicit)
    with pytest.raises(ValueError, match=re.escape(f"{expected}; got 3")):
        diffrax.diffeqsolve(three, ixd.IMEXEuler(), 0.0, 1.0, 0.5, y0)
    with pytest.raises(TypeError, match=re.escape(f"{expected}; got ODETerm")):
        diffrax.diffeqsolve(explicit, ixd.IMEXRK2(), 0.0, 1.0, 0.5, y0)
    with pytest.raises(ValueError, match=re.escape(f"{expected}; got 3")):
        ixd.ETDRK2().step(three, 0.0, 0.5, y0, None, None, made_jump=False)
    two = diffrax.MultiTerm(explicit, ixd.ConvDiffusionTerm(kernel))
    assert diffrax.diffeqsolve(two, ixd.IMEXEuler(), 0.0, 1.0, 0.5, y0).ys.shape == (1, 4, 5, 1)
