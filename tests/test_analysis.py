"""`imexjax.analysis`: amplification factors, receptive fields, trajectories, Jacobian norms, attacks.

Networks are tiny (8x8 and 16x16 images, width 4; one width keeps the number of compilations
down). Tests that compare against dense oracles or need tiny relative thresholds run in
float64 (the `x64` fixture).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import tree_allclose

import imexjax as ix
from imexjax.analysis import (
    adversarial_metrics,
    amplification_factor,
    block_trajectory,
    fgsm,
    input_gradient,
    jacobian_spectral_norm,
    layer_states,
    perturbation_growth,
    pgd,
    plot_adversarial,
    plot_perturbation_growth,
    plot_receptive_fields,
    plot_stability_regions,
    receptive_field,
    stability_region,
)
from imexjax.models import TimeSteppingNet


@functools.cache
def _net(geometry, integrator, seed=0, imex_form="paper"):
    """A tiny network, built once per argument set (the analyses do not change it)."""
    return TimeSteppingNet(
        geometry, in_channels=1, num_outputs=4, integrator=integrator, imex_form=imex_form, rngs=nnx.Rngs(seed)
    )


def _tiny_imex_logits(x):
    """The logits (H, W, 4) of one image (H, W, 1) under a tiny IMEX network (one function
    object, so that `jacobian_spectral_norm` compiles once for it)."""
    return _net(((2, 4),), "imex")(x[None])[0]


def _images(shape, seed=0, dtype=jnp.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), dtype)


def _support(influence):
    """The bounding box (rows, cols) of the nonzero entries and their count."""
    rows, cols = np.nonzero(influence)
    return (rows.min(), rows.max()), (cols.min(), cols.max()), len(rows)


# --------------------------------------------------------------------------------------
# absolute stability
# --------------------------------------------------------------------------------------


def test_amplification_factors_match_the_closed_forms(x64):
    re, im = np.meshgrid(np.linspace(-4, 1, 11), np.linspace(-3, 3, 7))
    z = re + 1j * im
    closed = {
        ix.Euler(): 1 + z,
        ix.Midpoint(): 1 + z + z**2 / 2,
        ix.RK4(): 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24,
    }
    for solver, expected in closed.items():
        assert tree_allclose(amplification_factor(solver, z), expected, rtol=1e-12, atol=1e-12), solver
    for a in (0.0, 0.5, 3.0):
        # PAPER.md: y[j+1] = (1 + h lambda + h alpha) / (1 + h alpha) y[j]
        paper = amplification_factor(ix.IMEXEuler(), z, h_alpha=a)
        assert tree_allclose(paper, (1 + z + a) / (1 + a), rtol=1e-12, atol=1e-12), a
        # the authors' code form steps y' = (lambda - alpha) y: explicit lambda, implicit alpha
        code = amplification_factor(ix.IMEXEuler(), z, h_alpha=a, imex_form="code")
        assert tree_allclose(code, (1 + z) / (1 + a), rtol=1e-12, atol=1e-12), a


def test_exponential_amplification_factors_match_the_closed_forms(x64):
    # w = h alpha, x the explicit part (z + w paper, z code): ETD a = e^-w + phi1(-w) x,
    # ETD-RK2 a + phi2(-w) x (a - 1); at w = 0 they are Euler's 1 + z and Heun's 1 + z + z^2/2.
    re, im = np.meshgrid(np.linspace(-4, 1, 11), np.linspace(-3, 3, 7))
    z = re + 1j * im
    for w in (0.0, 0.5, 3.0):
        phi1 = -np.expm1(-w) / w if w else 1.0
        phi2 = (np.exp(-w) - 1 + w) / w**2 if w else 0.5
        for form in ("paper", "code"):
            x = z + w if form == "paper" else z
            a = np.exp(-w) + phi1 * x
            etd = amplification_factor(ix.ExpEuler(), z, h_alpha=w, imex_form=form)
            assert tree_allclose(etd, a, rtol=1e-12, atol=1e-12), (w, form)
            etd2 = amplification_factor(ix.ETDRK2(), z, h_alpha=w, imex_form=form)
            assert tree_allclose(etd2, a + phi2 * x * (a - 1), rtol=1e-12, atol=1e-12), (w, form)
        paper = amplification_factor(ix.ExpEuler(), z, h_alpha=w)
        assert tree_allclose(paper, 1 + phi1 * z, rtol=1e-12, atol=1e-12), w
    assert tree_allclose(amplification_factor(ix.ETDRK2(), z), 1 + z + z**2 / 2, rtol=1e-12, atol=1e-12)
    # the ETD disk |1 + phi1(-w) z| <= 1 reaches Re z = -2 / phi1(-w), past Euler's -2
    assert stability_region(ix.ExpEuler(), -3.0, h_alpha=2.0) and not stability_region(ix.Euler(), -3.0)


def test_the_imex_region_contains_the_euler_disk_and_grows_with_h_alpha():
    re, im = np.meshgrid(np.linspace(-9, 1, 101), np.linspace(-5, 5, 101))
    z = re + 1j * im
    euler = stability_region(ix.Euler(), z)
    regions = [stability_region(ix.IMEXEuler(), z, h_alpha=a) for a in (0.0, 1.0, 3.0)]
    assert np.array_equal(regions[0], euler)  # h alpha = 0: IMEX Euler is forward Euler
    for smaller, larger in zip(regions[:-1], regions[1:], strict=True):
        assert np.all(larger[smaller]) and larger.sum() > smaller.sum()
    # h lambda = -3 is unstable for Euler (|1 - 3| = 2) and stable for IMEX at h alpha = 2
    assert not stability_region(ix.Euler(), -3.0) and stability_region(ix.IMEXEuler(), -3.0, h_alpha=2.0)
    # RK4's real stability interval reaches about -2.785, beyond Euler's and midpoint's -2
    assert stability_region(ix.RK4(), -2.7) and not stability_region(ix.Midpoint(), -2.7)


def test_amplification_factor_rejects_a_negative_alpha_and_an_unknown_form():
    with pytest.raises(ValueError, match="h_alpha must be >= 0"):
        amplification_factor(ix.IMEXEuler(), -1.0, h_alpha=-0.5)
    with pytest.raises(ValueError, match="unknown imex_form"):
        amplification_factor(ix.IMEXEuler(), -1.0, imex_form="semi")


# --------------------------------------------------------------------------------------
# receptive field
# --------------------------------------------------------------------------------------


def test_the_receptive_field_of_a_single_3x3_conv_layer_is_exactly_3x3():
    # geometry ((1, 4),): one opening layer relu(N(K x)) with a 3x3 K, then the 1x1 head
    net = _net(((1, 4),), "euler")
    image = _images((16, 16, 1))
    for threshold in (0.0, 1e-3):
        field = receptive_field(net, image, threshold=threshold, classes="all")
        assert _support(field.influence) == ((7, 9), (7, 9), 9)
        assert field.fraction == 9 / 256 and field.pixel == (8, 8)
    corner = receptive_field(net, image, pixel=(0, 0), threshold=0.0)  # zero padding: 2x2 at the corner
    assert _support(corner.influence) == ((0, 1), (0, 1), 4)
    # any JAX function works too: a bare 3x3 convolution
    kernel = _images((3, 3, 1, 2), seed=1)

    def conv(x):
        return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    assert _support(receptive_field(conv, image, threshold=0.0).influence) == ((7, 9), (7, 9), 9)


def test_a_resnet_sees_two_more_pixels_each_way_per_step():
    # an explicit step -K^T relu(N(K y)) applies two 3x3 convolutions: radius 1 + 2 s after s steps
    image = _images((16, 16, 1))
    for steps in (1, 2):
        field = receptive_field(_net(((1 + steps, 4),), "euler"), image, threshold=0.0)
        radius = 1 + 2 * steps
        assert _support(field.influence) == ((8 - radius, 8 + radius), (8 - radius, 8 + radius), (2 * radius + 1) ** 2)


def test_an_imex_network_covers_the_whole_image(x64):
    # the implicit solve (I + h C^T C)^{-1} couples every pixel; in float64 every input pixel's
    # influence exceeds 1e-9 of the largest (a local operator's would be exactly 0 outside its
    # support, as the ResNet of the same geometry shows)
    images = _images((2, 16, 16, 1), dtype=jnp.float64)
    imex = receptive_field(_net(((2, 4),), "imex"), images, threshold=1e-9)
    resnet = receptive_field(_net(((2, 4),), "euler"), images, threshold=1e-9)
    assert imex.fractions == [1.0, 1.0]
    assert resnet.fractions == [49 / 256, 49 / 256]
    assert imex.influence.shape == (2, 16, 16)


def test_input_gradient_selects_the_argmax_class_and_checks_its_input():
    net = _net(((2, 4),), "imex")
    image = _images((16, 16, 1))
    chosen = int(jnp.argmax(nnx.jit(lambda net, x: net(x))(net, image[None])[0, 8, 8]))
    assert tree_allclose(input_gradient(net, image), input_gradient(net, image, classes=chosen), rtol=0, atol=0)
    with pytest.raises(ValueError, match="outside the 16x16 image"):
        input_gradient(net, image, pixel=(16, 0))
    with pytest.raises(ValueError, match="classes must be"):
        input_gradient(net, image, classes="max")
    with pytest.raises(ValueError, match="threshold must be in"):
        receptive_field(net, image, threshold=1.0)
    with pytest.raises(ValueError, match="shape"):
        receptive_field(net, image[..., 0])


# --------------------------------------------------------------------------------------
# trajectories, perturbation growth and the Jacobian norm
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("integrator, form", [("euler", "paper"), ("imex", "paper"), ("imex", "code")])
def test_the_trajectory_of_a_block_ends_at_the_block_output(integrator, form):
    net = _net(((3, 4), (2, 4)), integrator, imex_form=form)
    x = _images((2, 8, 8, 1))

    @nnx.jit
    def run(net, x):
        block = net.blocks[0]
        return layer_states(net, x), net.features(x), block_trajectory(block, x), block.opening(x), block(x)

    states, features, first, opening, block_output = run(net, x)
    assert [s.shape for s in states] == [(2, 8, 8, 4)] * 5
    assert tree_allclose(states[-1], features, rtol=1e-6, atol=1e-6)
    assert tree_allclose(first[0], opening, rtol=0, atol=0)
    assert tree_allclose(first[-1], block_output, rtol=1e-6, atol=1e-6)


def test_power_iteration_matches_the_largest_singular_value_of_the_dense_jacobian(x64):
    matrix = np.random.default_rng(0).standard_normal((7, 5))
    sigma = jacobian_spectral_norm(lambda v: jnp.asarray(matrix) @ v, jnp.ones(5, jnp.float64), num_iterations=100)
    assert tree_allclose(sigma, np.linalg.norm(matrix, 2), rtol=1e-10, atol=0)
    image = _images((8, 8, 1), seed=2, dtype=jnp.float64)  # width 4: a 256 x 64 Jacobian
    dense = np.asarray(jax.jit(jax.jacfwd(_tiny_imex_logits))(image)).reshape(8 * 8 * 4, 8 * 8)
    expected = np.linalg.svd(dense, compute_uv=False)[0]
    estimate = jacobian_spectral_norm(_tiny_imex_logits, image, num_iterations=200, key=jax.random.key(3))
    assert tree_allclose(estimate, expected, rtol=1e-6, atol=0)


def test_perturbation_growth_is_bounded_by_the_jacobian_norm(x64):
    net = _net(((2, 4),), "imex")
    image = _images((1, 8, 8, 1), seed=2, dtype=jnp.float64)
    growth = perturbation_growth(net, image, scale=1e-6)
    assert len(growth.by_layer) == 2 and all(r > 0 for r in growth.by_layer)
    sigma = float(jacobian_spectral_norm(_tiny_imex_logits, image[0], num_iterations=200, key=jax.random.key(3)))
    assert 0 < growth.output <= sigma * (1 + 1e-6)
    # the ratios are ||J_n d|| / ||d|| of the perturbation drawn from key(0), J_n the Jacobian of layer n
    d = jax.random.normal(jax.random.key(0), image.shape, image.dtype)
    states, tangents = jax.jvp(lambda x: layer_states(net, x), (image,), (d,))
    _, output_tangent = jax.jvp(net, (image,), (d,))
    linear = [float(jnp.linalg.norm(t) / jnp.linalg.norm(d)) for t in tangents]
    assert len(states) == 2 and tree_allclose(growth.by_layer, linear, rtol=1e-4, atol=0)
    assert tree_allclose(growth.output, float(jnp.linalg.norm(output_tangent) / jnp.linalg.norm(d)), rtol=1e-4, atol=0)
    # linear regime: a ten times smaller perturbation gives the same ratios
    smaller = perturbation_growth(net, image, scale=1e-7)
    assert tree_allclose(smaller.by_layer, growth.by_layer, rtol=1e-4, atol=0)
    with pytest.raises(ValueError, match="scale must be positive"):
        perturbation_growth(net, image, scale=0.0)


# --------------------------------------------------------------------------------------
# adversarial attacks
# --------------------------------------------------------------------------------------


def test_fgsm_and_pgd_on_a_linear_loss_move_to_the_corner_of_the_ball():
    w = jnp.array([1.0, -2.0, 0.5, -0.1])
    x = jnp.array([0.3, 0.1, -0.2, 0.0])

    def loss(z):
        return jnp.dot(w, z)

    expected = x + 0.25 * jnp.sign(w)
    assert tree_allclose(fgsm(loss, x, 0.25), expected, rtol=0, atol=1e-7)
    assert tree_allclose(pgd(loss, x, 0.25, steps=5), expected, rtol=0, atol=1e-7)
    # a step size beyond the radius is clipped back into the ball
    assert tree_allclose(pgd(loss, x, 0.25, steps=2, step_size=1.0), expected, rtol=0, atol=1e-7)


def test_attacks_lower_the_iou_of_a_network_that_was_right():
    net = _net(((2, 4),), "imex")
    images = _images((3, 8, 8, 1))
    labels = np.asarray(
        jnp.argmax(nnx.jit(lambda net, x: net(x))(net, images), axis=-1)
    )  # the network's own predictions: IoU 1
    assert len(np.unique(labels)) > 1
    results = adversarial_metrics(net, images, labels, [0.0, 1.0], steps=3)
    assert list(results) == ["fgsm", "pgd"]
    for attack, rows in results.items():
        assert [r["epsilon"] for r in rows] == [0.0, 1.0]
        assert rows[0]["iou"] == 1.0 and rows[0]["accuracy"] == 100.0
        assert rows[1]["accuracy"] < 100.0 and rows[1]["iou"] < 1.0, attack
    with pytest.raises(ValueError, match="unknown attack"):
        adversarial_metrics(net, images, labels, [0.1], attacks=["cw"])
    with pytest.raises(ValueError, match="epsilons must be finite and >= 0"):
        adversarial_metrics(net, images, labels, [-0.1])


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------
def test_plots_write_png_files(tmp_path):
    rng = np.random.default_rng(0)
    plot_stability_regions(tmp_path / "regions.png", resolution=40)
    plot_receptive_fields(
        tmp_path / "fields.png",
        rng.random((8, 8)),
        {"imex": rng.random((8, 8)), "euler": rng.random((8, 8))},
        pixel=(4, 4),
        fractions={"imex": 0.5},
    )
    plot_perturbation_growth(tmp_path / "growth.png", {"imex": [1.0, 0.5], "other": [1.0, 2.0]}, output={"imex": 0.4})
    attacks = {"imex": {"epsilons": [0.0, 0.1], "fgsm": [0.9, 0.5], "pgd": [0.9, 0.3]}}
    plot_adversarial(tmp_path / "attacks.png", attacks)
    for name in ("regions", "fields", "growth", "attacks"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
