"""`imexjax.models`: parameter counts, shapes, transformations, the IMEX forms, normalization.

Models run in float32 (x64 is not enabled globally); geometries are tiny except for the one
parameter-count test of the paper's network, which only constructs it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import all_solvers, assert_directional_derivative, integrator_names, solver_id, tree_allclose

import imexjax as ix
import imexjax.solvers
from imexjax import models
from imexjax.models import ExplicitLayer, Normalization, TimeSteppingNet, conv2d, conv2d_transpose, count_parameters

PAPER_GEOMETRY = ((4, 64), (4, 128), (4, 256))
TINY_GEOMETRY = ((2, 4), (2, 6))
TOL32 = dict(rtol=1e-5, atol=1e-5)


def _net(integrator="imex", *, seed=0, **options):
    """The tiny network most tests use: one opening layer and one step per block.

    Tests share its shapes because constructing a network compiles an initializer per new
    parameter shape, which dominates the cost of these tests on CPU.
    """
    return TimeSteppingNet(
        TINY_GEOMETRY, in_channels=1, num_outputs=3, integrator=integrator, rngs=nnx.Rngs(seed), **options
    )


def _step_layer(block, n=0):
    """The explicit layer of step n of a Block (its parameters are stacked per step)."""
    graphdef, state = nnx.split(block.steps)
    return nnx.merge(graphdef, jax.tree.map(lambda a: a[n], state))


@nnx.jit
def _apply(module, x):
    """`module(x)`, jitted: one compilation serves every call with the same shapes and graph."""
    return module(x)


@nnx.jit
def _features(net, x):
    return net.features(x)


def _images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _explicit_count(geometry, in_channels, k=3, symmetric=True):
    """k x k kernels, no biases: an opening conv per block, then (layers - 1) steps of one
    (symmetric) or two kernels of width x width."""
    total, channels = 0, in_channels
    for layers, width in geometry:
        total += k * k * channels * width + (layers - 1) * (1 if symmetric else 2) * k * k * width * width
        channels = width
    return total


# --------------------------------------------------------------------------------------
# parameter counts
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper_counts():
    """count_parameters of the paper's networks; each (~2.7M parameters) constructed once, never run."""
    counts = {}
    for integrator in ("euler", "imex"):
        net = TimeSteppingNet(PAPER_GEOMETRY, in_channels=1, num_outputs=4, integrator=integrator, rngs=nnx.Rngs(0))
        counts[integrator] = count_parameters(net)
        del net
    return counts


def test_paper_resnet_has_the_papers_explicit_parameter_count(paper_counts):
    # The IMEXnet paper's ResNet: 2,691,648 = the explicit parameters of the 64/128/256
    # geometry with 3x3 kernels and no biases.
    assert paper_counts["euler"]["explicit"] == 2_691_648
    assert paper_counts["euler"]["implicit"] == 0


def test_paper_imex_net_adds_nine_parameters_per_channel_and_step(paper_counts):
    assert paper_counts["imex"]["explicit"] == paper_counts["euler"]["explicit"]
    assert paper_counts["imex"]["implicit"] == 9 * (3 * 64 + 3 * 128 + 3 * 256)
    for name in ("norm", "head"):
        assert paper_counts["imex"][name] == paper_counts["euler"][name]
    counts = paper_counts["imex"]
    assert counts["total"] == counts["explicit"] + counts["implicit"] + counts["norm"] + counts["head"]


@pytest.mark.parametrize("symmetric", [True, False])
def test_parameter_counts_follow_the_geometry(symmetric):
    counts = count_parameters(_net(symmetric=symmetric))
    assert counts["explicit"] == _explicit_count(TINY_GEOMETRY, 1, 3, symmetric)
    assert counts["implicit"] == 9 * (4 + 6)  # one 3x3 kernel per channel and step
    assert counts["norm"] == 2 * 2 * (4 + 6)  # scale and shift per layer (2 per block) and channel
    assert counts["head"] == 6 * 3 + 3  # 1x1 convolution and bias


# --------------------------------------------------------------------------------------
# shapes, dtypes, transformations
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("integrator", integrator_names())
@pytest.mark.parametrize("height,width", [(8, 8), (7, 9)])
def test_output_shape_for_every_integrator(integrator, height, width):
    net = _net(integrator)
    out = net(_images((2, height, width, 1)))
    assert out.shape == (2, height, width, 3)
    assert out.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(out)))


def test_defaults_are_the_measured_imex_configuration():
    # Per-pixel (channel) normalization by default; the IMEX network in the paper form with
    # zero-mean kernels, the configuration measured best on Q-tips.
    net = TimeSteppingNet(TINY_GEOMETRY, in_channels=1, num_outputs=3, rngs=nnx.Rngs(0))
    assert net.integrator == "imex"
    for block in net.blocks:
        assert block.imex_form == "paper"
        assert block.implicit.zero_mean is True
        assert block.opening.norm.kind == "channel"


def test_remat_defaults_to_on_for_cpu_only_and_leaves_gradients_unchanged(monkeypatch):
    # On CPU the rematerialized step measured 0.84-1.05x the time and 2.2-5.6x lighter;
    # other backends keep it off until measured.
    assert all(block.remat is (jax.default_backend() == "cpu") for block in _net().blocks)
    assert all(block.remat is True for block in _net(remat=True).blocks)
    x = _images((2, 8, 8, 1))

    def gradients(net):
        return nnx.grad(lambda m: jnp.mean(m(x) ** 2))(net)

    assert tree_allclose(gradients(_net(remat=True)), gradients(_net(remat=False)), **TOL32)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert all(block.remat is False for block in _net().blocks)


def test_every_solver_has_one_integrator_name():
    # A network can be built on every solver the library exports, under one name each.
    named = [solver_id(models.solver_from_name(name)) for name in integrator_names()]
    assert sorted(named) == sorted(map(solver_id, all_solvers()))
    assert all(models.solver_from_name(name) is models.INTEGRATORS[name] for name in integrator_names())
    labels = [models.integrator_label(name) for name in integrator_names()]
    assert len(set(labels)) == len(labels) and models.integrator_label("etd2") == "ETD-RK2"


@pytest.mark.parametrize("integrator", integrator_names())
def test_network_trains_under_nnx_jit_and_grad(integrator):
    net = _net(integrator, imex_form="paper")
    x = _images((2, 8, 8, 1))
    target = _images((2, 8, 8, 3), seed=1)

    @nnx.jit
    def value_and_grad(model):
        return nnx.value_and_grad(lambda m: jnp.mean((m(x) - target) ** 2))(model)

    loss, grads = value_and_grad(net)
    assert np.isfinite(float(loss))
    leaves = jax.tree.leaves(grads)
    assert leaves and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    if models.solver_from_name(integrator).imex:
        for block in grads["blocks"].values():
            assert float(jnp.max(jnp.abs(block["implicit_kernels"][...]))) > 0.0
    # The loss is the model's, and a small step along -grad lowers it.
    assert tree_allclose(loss, jnp.mean((_apply(net, x) - target) ** 2), rtol=1e-5, atol=1e-6)
    nnx.update(net, jax.tree.map(lambda p, g: p - 1e-3 * g, nnx.state(net, nnx.Param), grads))
    assert float(jnp.mean((_apply(net, x) - target) ** 2)) < float(loss)


@pytest.mark.parametrize(
    "integrator,boundary",
    # imex with periodic solves: tests/test_multilevel.py checks the same through a multilevel network
    [("imex2", "periodic"), ("etd2", "periodic"), ("imex", "zero"), ("imex", "reflect")],
)
def test_network_gradient_of_the_implicit_kernels_matches_finite_differences(integrator, boundary):
    # The implicit solves' derivatives (FFT, DCT, CG through lineax) seen through a whole network:
    # the directional derivative along random implicit-kernel directions by central differences.
    # ReLU makes the loss only piecewise smooth (a difference across a kink is off by O(1) in float32
    # at any usable step), so the layers get softplus here.
    net = _net(integrator, boundary=boundary)
    layers = [m for _, m in nnx.iter_graph(net) if isinstance(m, (ExplicitLayer, models.OpeningLayer))]
    assert len(layers) == 4  # per block: the opening layer and the (stacked) step layers
    for layer in layers:
        layer.activation = nnx.softplus
    graphdef, params = nnx.split(net, nnx.Param)
    x = _images((2, 8, 8, 1))
    target = _images((2, 8, 8, 3), seed=1)

    @jax.jit
    def loss(params):
        return jnp.mean((nnx.merge(graphdef, params)(x) - target) ** 2)

    rng = np.random.default_rng(2)
    direction = jax.tree.map(jnp.zeros_like, params)
    for name in params["blocks"]:
        shape = params["blocks"][name]["implicit_kernels"][...].shape
        direction["blocks"][name]["implicit_kernels"][...] = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    assert_directional_derivative(loss, params, direction, eps=1e-2, rtol=2e-2)


# --------------------------------------------------------------------------------------
# the explicit layer and its convolutions
# --------------------------------------------------------------------------------------


def _conv2d_reference(y, kernel):
    """Zero-padded 'same' cross-correlation from its definition, numpy float64."""
    k = kernel.shape[0]
    half = k // 2
    batch, height, width, _ = y.shape
    padded = np.pad(y, ((0, 0), (half, half), (half, half), (0, 0)))
    out = np.zeros((batch, height, width, kernel.shape[-1]))
    for i in range(height):
        for j in range(width):
            window = padded[:, i : i + k, j : j + k, :]  # (B, k, k, C_in)
            out[:, i, j, :] = np.einsum("xabc,abco->xo", window, kernel)
    return out


@pytest.mark.parametrize("k", [3, 5])
def test_conv2d_is_same_padded_cross_correlation(x64, k):
    rng = np.random.default_rng(2)
    y, kernel = rng.standard_normal((2, 5, 6, 2)), rng.standard_normal((k, k, 2, 3))
    assert tree_allclose(
        conv2d(jnp.asarray(y), jnp.asarray(kernel)), _conv2d_reference(y, kernel), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("k", [3, 5])
def test_conv2d_transpose_is_the_adjoint_of_conv2d(x64, k):
    # <conv2d(y, K), z> == <y, conv2d_transpose(z, K)>, with C_in != C_out and zero padding.
    rng = np.random.default_rng(3)
    y = jnp.asarray(rng.standard_normal((2, 5, 6, 2)))
    z = jnp.asarray(rng.standard_normal((2, 5, 6, 3)))
    kernel = jnp.asarray(rng.standard_normal((k, k, 2, 3)))
    lhs = jnp.vdot(conv2d(y, kernel), z)
    rhs = jnp.vdot(y, conv2d_transpose(z, kernel))
    assert conv2d_transpose(z, kernel).shape == y.shape
    assert tree_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)
    # Not trivially so: the unflipped kernel is not the adjoint.
    wrong = jnp.vdot(y, conv2d(z, kernel.swapaxes(2, 3)))
    assert not tree_allclose(wrong, lhs, rtol=1e-3, atol=1e-3)


def _conv_problem(k, seed=4):
    """y (2, 5, 6, 2), a kernel (k, k, 2, 3), tangents of both and a cotangent, float64."""
    rng = np.random.default_rng(seed)
    y, y_dot = rng.standard_normal((2, 2, 5, 6, 2))
    kernel, kernel_dot = rng.standard_normal((2, k, k, 2, 3))
    cotangent = rng.standard_normal((2, 5, 6, 3))
    return y, kernel, y_dot, kernel_dot, cotangent


@pytest.mark.parametrize("k", [1, 3, 5])
def test_conv2d_derivatives_match_its_definition(x64, k):
    # conv2d is bilinear: its JVP is conv(dY, K) + conv(Y, dK), and its VJP is the adjoint of
    # that map. Both are checked against the numpy definition (the custom derivative that
    # keeps CPU loops fast must not change them).
    y, kernel, y_dot, kernel_dot, cotangent = _conv_problem(k)
    out, tangent = jax.jvp(conv2d, (jnp.asarray(y), jnp.asarray(kernel)), (jnp.asarray(y_dot), jnp.asarray(kernel_dot)))
    assert tree_allclose(out, _conv2d_reference(y, kernel), rtol=1e-10, atol=1e-10)
    expected = _conv2d_reference(y_dot, kernel) + _conv2d_reference(y, kernel_dot)
    assert tree_allclose(tangent, expected, rtol=1e-10, atol=1e-10)
    _, vjp = jax.vjp(conv2d, jnp.asarray(y), jnp.asarray(kernel))
    y_bar, kernel_bar = vjp(jnp.asarray(cotangent))
    assert y_bar.shape == y.shape and kernel_bar.shape == kernel.shape
    assert np.isclose(np.vdot(y_bar, y_dot), np.vdot(cotangent, _conv2d_reference(y_dot, kernel)), rtol=1e-10)
    assert np.isclose(np.vdot(kernel_bar, kernel_dot), np.vdot(cotangent, _conv2d_reference(y, kernel_dot)), rtol=1e-10)


def test_conv2d_cpu_tangent_is_the_plain_one(x64):
    # The CPU layout of the derivative (run by the tests on CPU) and the plain one (GPU, TPU)
    # are the same map.
    from imexjax.models._conv import _tangent, _tangent_for_cpu

    arrays = [jnp.asarray(a) for a in _conv_problem(3)[:4]]
    assert tree_allclose(_tangent_for_cpu(*arrays), _tangent(*arrays), rtol=1e-10, atol=1e-10)


def test_conv2d_gradients_inside_a_loop_and_of_second_order(x64):
    # A scanned stack of conv2d steps differentiates as the unrolled one, and by finite
    # differences; forward-over-reverse (a Hessian-vector product) works too.
    y, kernel, _, kernel_dot, _ = _conv_problem(3)
    kernels = jnp.stack([jnp.asarray(kernel[..., :2]) * 0.3, jnp.asarray(kernel_dot[..., :2]) * 0.3])
    direction = jnp.asarray(np.random.default_rng(5).standard_normal(kernels.shape))

    def loss(kernels, unroll):
        def step(state, k):
            return state + 0.5 * jnp.tanh(conv2d(state, k)), None

        final, _ = jax.lax.scan(step, jnp.asarray(y), kernels, unroll=unroll)
        return jnp.sum(final**2)

    rolled = jax.grad(loss)(kernels, 1)
    assert tree_allclose(rolled, jax.grad(loss)(kernels, 2), rtol=1e-10, atol=1e-10)
    eps = 1e-6
    central = (loss(kernels + eps * direction, 1) - loss(kernels - eps * direction, 1)) / (2 * eps)
    assert np.isclose(jnp.vdot(rolled, direction), central, rtol=1e-6)
    hvp = jax.jvp(lambda k: jax.grad(loss)(k, 1), (kernels,), (direction,))[1]
    hvp_fd = (jax.grad(loss)(kernels + eps * direction, 1) - jax.grad(loss)(kernels - eps * direction, 1)) / (2 * eps)
    assert tree_allclose(hvp, hvp_fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("symmetric", [True, False])
def test_explicit_layer_forms(symmetric):
    # symmetric: f(Y) = -K^T sigma(N(K Y)); general: f(Y) = K2 sigma(N(K1 Y)).
    layer = _step_layer(_net("euler", symmetric=symmetric).blocks[0])
    assert isinstance(layer, ExplicitLayer)
    y = _images((2, 6, 5, 4))
    inner = layer.activation(layer.norm(conv2d(y, layer.kernel[...])))
    if symmetric:
        assert layer.kernel_out is None
        expected = -conv2d_transpose(inner, layer.kernel[...])
    else:
        expected = conv2d(inner, layer.kernel_out[...])
    assert tree_allclose(layer(y), expected, **TOL32)


# --------------------------------------------------------------------------------------
# the IMEX forms
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("zero_mean", [True, False])
def test_imex_block_forms_step_as_documented(zero_mean):
    # One step, h = 0.5. paper: (I + hL) Y1 = (I + hL) Y0 + h f(Y0), i.e. Y1 = Y0 + h (I + hL)^{-1} f;
    # code:  Y1 = (I + hL)^{-1} (Y0 + h f(Y0)). L = C^T C with the block's kernel.
    h = 0.5
    x = _images((2, 7, 6, 1))
    operator = ix.ConvDiffusion(zero_mean=zero_mean)
    outputs = {}
    for form in ("paper", "code"):
        block = _net("imex", imex_form=form, h=h, zero_mean=zero_mean, seed=5).blocks[0]
        y0 = block.opening(x)
        f0 = _step_layer(block)(y0)
        kernel = block.implicit_kernels[...][0]
        if form == "paper":
            expected = y0 + h * operator.resolve(h, f0, kernel)
        else:
            expected = operator.resolve(h, y0 + h * f0, kernel)
        outputs[form] = block(x)
        assert tree_allclose(outputs[form], expected, rtol=1e-4, atol=1e-5), form
    assert not tree_allclose(outputs["paper"], outputs["code"], rtol=1e-3, atol=1e-3)


def test_etd_block_forms_step_as_documented():
    # One step, h = 0.5. paper: Y1 = Y0 + h phi1(-hL) f(Y0), the ExpEuler step on the split
    # f + LY explicit, -LY implicit; code: Y1 = exp(-hL) Y0 + h phi1(-hL) f(Y0).
    h = 0.5
    x = _images((2, 7, 6, 1))
    operator = ix.ConvDiffusion(zero_mean=True)
    for form in ("paper", "code"):
        block = _net("etd", imex_form=form, h=h, seed=5).blocks[0]
        y0 = block.opening(x)
        layer = _step_layer(block)
        f0 = layer(y0)
        kernel = block.implicit_kernels[...][0]
        if form == "paper":
            expected = y0 + h * operator.phi1(h, f0, kernel)
            split = ix.ExpEuler().step(
                (lambda t, y, k, layer=layer: layer(y) - operator.mv(y, k), operator), 0.0, y0, (kernel, kernel), h
            )
            assert tree_allclose(split, expected, rtol=1e-4, atol=1e-5)
        else:
            expected = operator.exp(h, y0, kernel) + h * operator.phi1(h, f0, kernel)
        assert tree_allclose(block(x), expected, rtol=1e-4, atol=1e-5), form


def test_imex_forms_with_zero_kernels_equal_the_resnet():
    x = _images((2, 8, 8, 1))
    nets = {form: _net("imex", imex_form=form, seed=3) for form in ("paper", "code")}
    # The two forms differ with the (random) kernels they are built with...
    assert not tree_allclose(_features(nets["paper"], x), _features(nets["code"], x), rtol=1e-3, atol=1e-3)
    # ...and both become the ResNet with the same explicit parameters when the kernels are zero.
    resnet = _net("euler", seed=3)
    explicit = nnx.All(nnx.Param, nnx.Not(nnx.PathContains("implicit_kernels")))
    nnx.update(resnet, nnx.state(nets["paper"], explicit))
    for net in nets.values():
        for block in net.blocks:
            block.implicit_kernels[...] = jnp.zeros_like(block.implicit_kernels[...])
    reference = _features(resnet, x)
    assert reference.shape == (2, 8, 8, 6)
    assert tree_allclose(_features(nets["paper"], x), reference, **TOL32)
    assert tree_allclose(_features(nets["code"], x), reference, **TOL32)


@pytest.mark.parametrize("imex_form", ["paper", "code"])
def test_zero_mean_implicit_solve_keeps_channel_means(imex_form):
    # A block of one step: its output is Y0 + h f(Y0) passed through (paper) or mixed with
    # (code) the implicit solve. With zero-mean kernels the solve keeps each channel's spatial
    # mean, so the block's channel means are those of the ResNet step (kernels zeroed).
    x = _images((2, 8, 7, 1))
    means = {}
    for zero_mean in (True, False):
        block = _net("imex", imex_form=imex_form, zero_mean=zero_mean, seed=4).blocks[0]
        with_kernels = jnp.mean(_apply(block, x), axis=(1, 2))
        block.implicit_kernels[...] = jnp.zeros_like(block.implicit_kernels[...])
        without = jnp.mean(_apply(block, x), axis=(1, 2))
        means[zero_mean] = (with_kernels, without)
    assert tree_allclose(*means[True], rtol=1e-4, atol=1e-5)
    assert not tree_allclose(*means[False], rtol=1e-3, atol=1e-3)  # the projection is what keeps them


# --------------------------------------------------------------------------------------
# normalization and what it does to the receptive field
# --------------------------------------------------------------------------------------


def _pixel_change(module, x, pixel):
    """|module(x') - module(x)| summed over channels, x' = x with one pixel changed.

    The change differs between channels: a per-pixel normalization removes a change that is
    the same in every channel of the pixel."""
    perturbed = x.at[:, pixel[0], pixel[1], :].add(jnp.linspace(1.0, -2.0, x.shape[-1]))
    return jnp.sum(jnp.abs(_apply(module, perturbed) - _apply(module, x)), axis=-1)[0]


@pytest.mark.parametrize("kind,pools", [("channel", False), ("instance", True), ("group", True)])
def test_normalization_pools_over_the_image_only_when_it_says_so(kind, pools):
    norm = Normalization(4, kind=kind, groups=2)
    x = _images((1, 5, 6, 4))
    change = _pixel_change(norm, x, (2, 3))
    assert float(change[2, 3]) > 1e-3
    others = np.delete(np.asarray(change).reshape(-1), 2 * 6 + 3)  # every pixel but (2, 3)
    if pools:
        assert np.all(others > 1e-6)
    else:
        assert np.max(others) == 0.0


@pytest.mark.parametrize("kind,axes", [("channel", (-1,)), ("instance", (1, 2))])
def test_normalization_standardizes_over_its_axes(kind, axes):
    x = _images((2, 5, 6, 4)) * 3.0 + 1.0
    out = Normalization(4, kind=kind)(x)  # scale 1, shift 0 at initialization
    assert tree_allclose(jnp.mean(out, axis=axes), jnp.zeros_like(jnp.mean(out, axis=axes)), rtol=0, atol=1e-5)
    assert tree_allclose(jnp.var(out, axis=axes), jnp.ones_like(jnp.var(out, axis=axes)), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(
    "integrator,norm,global_reach",
    [("euler", "channel", False), ("euler", "instance", True)]
    + [(name, "channel", True) for name in integrator_names(imex=True)],
)
def test_only_pooling_norms_or_implicit_steps_reach_across_the_image(integrator, norm, global_reach):
    # With per-pixel normalization a 3x3 ResNet sees a few pixels per layer, while an
    # instance norm or an implicit solve hands every pixel information from all of the
    # image. Per block: opening (1 px) + K (1 px) + K^T (1 px); two blocks reach 6 px.
    net = _net(integrator, norm=norm, seed=6)
    change = _pixel_change(net, _images((1, 14, 14, 1)), (1, 1))
    assert float(change[1, 1]) > 0.0
    far = change[8:, 8:]  # at least 7 pixels away in both directions
    if global_reach:
        assert bool(jnp.all(far > 0.0))
    else:
        assert float(jnp.max(far)) == 0.0


def test_batch_norm_trains_on_batch_statistics_and_evaluates_on_running_ones():
    x = _images((3, 5, 6, 4)) * 2.0 + 0.5
    norm = Normalization(4, kind="batch", momentum=0.75)
    mean, var = jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))
    assert tree_allclose(norm(x), (x - mean) / jnp.sqrt(var + 1e-5), **TOL32)
    assert tree_allclose(norm.running_mean[...], 0.25 * mean, **TOL32)
    assert tree_allclose(norm.running_var[...], 0.75 + 0.25 * var, **TOL32)
    norm(x)  # a second training call moves the running statistics on
    assert tree_allclose(norm.running_mean[...], (0.75 * 0.25 + 0.25) * mean, **TOL32)
    running_mean, running_var = norm.running_mean[...], norm.running_var[...]
    norm.eval()
    expected = (x - running_mean) / jnp.sqrt(running_var + 1e-5)
    assert tree_allclose(norm(x), expected, **TOL32)
    assert tree_allclose(norm(x[:1]), expected[:1], **TOL32)  # per image: the batch no longer matters
    assert tree_allclose(norm.running_mean[...], running_mean, rtol=0, atol=0)  # and nothing moves
    norm.train()
    assert not tree_allclose(norm(x[:1]), expected[:1], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("integrator", integrator_names())
def test_batch_norm_statistics_of_every_step_and_stage_are_carried_out_of_the_scan(integrator):
    # A block of two steps (h = 0.5) in training mode: the running mean of step n, stage s
    # must be momentum * 0 + (1 - momentum) * the batch mean of K_n Y_s, Y_s the state stage s
    # of step n evaluates the layer at, stepped outside the network by the solver's own step
    # (IMEX-type solvers in the paper form).
    solver = imexjax.solvers.in_form(models.solver_from_name(integrator), "paper")
    implicit = ix.ConvDiffusion(zero_mean=True)
    h = 0.5
    x = _images((2, 7, 6, 1))
    net = TimeSteppingNet(
        ((3, 4),), in_channels=1, num_outputs=2, integrator=integrator, norm="batch", h=h, rngs=nnx.Rngs(2)
    )
    block = net.blocks[0]
    reference = nnx.clone(block)
    layers = [_step_layer(reference, n) for n in range(2)]
    y = reference.opening(x)
    expected_means = []
    for n, layer in enumerate(layers):
        stage_means = []

        def f(t, state, args, layer=layer, stage_means=stage_means):
            stage_means.append(jnp.mean(conv2d(state, layer.kernel[...]), axis=(0, 1, 2)))
            return -conv2d_transpose(
                jax.nn.relu(Normalization(4, kind="batch")(conv2d(state, layer.kernel[...]))), layer.kernel[...]
            )

        if solver.imex:
            y = solver.step((f, implicit), n * h, y, (None, reference.implicit_kernels[...][n]), h)
        else:
            y = solver.step(f, n * h, y, None, h)
        assert len(stage_means) == solver.stages
        expected_means.append(0.1 * jnp.stack(stage_means) if solver.stages > 1 else 0.1 * stage_means[0])
    output = _apply(block, x)
    assert tree_allclose(output, y, rtol=1e-4, atol=1e-5)
    assert tree_allclose(block.steps.norm.running_mean[...], jnp.stack(expected_means), rtol=1e-4, atol=1e-6)
    assert tree_allclose(
        block.opening.norm.running_mean[...],
        0.1 * jnp.mean(conv2d(x, block.opening.kernel[...]), axis=(0, 1, 2)),
        rtol=1e-4,
        atol=1e-6,
    )


@pytest.mark.parametrize("integrator", integrator_names())
def test_batch_norm_evaluation_normalizes_every_stage_as_training_did(integrator):
    # With momentum 0 one training call leaves each stage's running statistics equal to the
    # batch statistics it normalized by, so evaluation on the same batch must give training's
    # output. One set of statistics per step (the mean over stages) would not: the stages of
    # RK4 or IMEX-RK2 see different states.
    x = _images((3, 8, 8, 1))
    net = TimeSteppingNet(
        ((2, 4), (3, 4)), in_channels=1, num_outputs=2, integrator=integrator, norm="batch", rngs=nnx.Rngs(4)
    )
    for _, module in nnx.iter_graph(net):
        if isinstance(module, Normalization):
            module.momentum = 0.0
    trained = _apply(net, x)
    net.eval()
    evaluated = _apply(net, x)
    assert tree_allclose(evaluated, trained, rtol=1e-4, atol=1e-4 * float(jnp.abs(trained).max()))


def test_batch_norm_network_in_eval_mode_is_per_image_and_leaves_statistics():
    x = _images((3, 8, 8, 1))
    net = _net("imex", norm="batch", seed=7)
    _apply(net, x)  # one training call: running statistics away from their initial values
    before = nnx.state(net, nnx.BatchStat)
    net.eval()
    outputs = _apply(net, x)
    assert tree_allclose(_apply(net, x[1:2]), outputs[1:2], **TOL32)
    assert tree_allclose(nnx.state(net, nnx.BatchStat), before, rtol=0, atol=0)
    net.train()
    assert not tree_allclose(_apply(net, x[1:2]), outputs[1:2], rtol=1e-3, atol=1e-3)


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------


def test_unknown_integrator_name():
    with pytest.raises(ValueError, match=r"unknown integrator 'heun'; choose one of") as error:
        TimeSteppingNet(TINY_GEOMETRY, in_channels=1, num_outputs=2, integrator="heun", rngs=nnx.Rngs(0))
    for name in integrator_names():  # the message lists the valid names
        assert name in str(error.value)


def test_unknown_normalization():
    with pytest.raises(ValueError, match=r"unknown normalization 'layer'"):
        TimeSteppingNet(TINY_GEOMETRY, in_channels=1, num_outputs=2, norm="layer", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"groups=4 to divide channels=6"):
        Normalization(6, kind="group", groups=4)


def test_unknown_imex_form():
    with pytest.raises(ValueError, match=r"unknown imex_form 'exact'"):
        TimeSteppingNet(TINY_GEOMETRY, in_channels=1, num_outputs=2, imex_form="exact", rngs=nnx.Rngs(0))


def test_unknown_dtype():
    with pytest.raises(ValueError, match=r"unknown dtype 'float16'; choose one of float32, bfloat16"):
        TimeSteppingNet(TINY_GEOMETRY, in_channels=1, num_outputs=2, dtype="float16", rngs=nnx.Rngs(0))


def test_bfloat16_network_computes_in_bfloat16_and_keeps_float32_parameters_and_outputs():
    # Mixed precision: bfloat16 states, float32 parameters and logits, and gradients close to
    # those of the float32 network with the same parameters.
    x = _images((2, 8, 8, 1))
    net32 = _net("imex")
    net16 = _net("imex", dtype="bfloat16")
    assert _features(net16, x).dtype == jnp.bfloat16 and _features(net32, x).dtype == jnp.float32
    logits16, logits32 = _apply(net16, x), _apply(net32, x)
    assert logits16.dtype == jnp.float32
    assert 0 < float(jnp.max(jnp.abs(logits16 - logits32))) < 0.05 * float(jnp.max(jnp.abs(logits32)))

    def grads(net):
        return jax.tree.leaves(nnx.grad(lambda n: jnp.mean(n(x) ** 2))(net))

    for g16, g32 in zip(grads(net16), grads(net32), strict=True):
        assert g16.dtype == jnp.float32
        cosine = jnp.vdot(g16, g32) / (jnp.linalg.norm(g16) * jnp.linalg.norm(g32) + 1e-30)
        assert float(cosine) > 0.98


@pytest.mark.parametrize(
    "geometry",
    [(), ((0, 4),), ((2, 4), (2, 0)), ((-1, 4),)],
    ids=["empty", "zero-layers", "zero-width", "negative-layers"],
)
def test_bad_geometry(geometry):
    with pytest.raises(ValueError, match="geometry must be a non-empty list of"):
        TimeSteppingNet(geometry, in_channels=1, num_outputs=2, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("shape", [(8, 8, 1), (1, 1, 8, 8, 1)], ids=["3-D", "5-D"])
def test_input_must_be_a_batch_of_images(shape):
    net = _net("euler")
    with pytest.raises(ValueError, match=r"expected images of shape \(batch, H, W, channels\)"):
        net(jnp.zeros(shape))
