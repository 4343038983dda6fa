"""The U-Net: resampling against definitions, odd sizes, the parameter formula, gradients, bad input, a run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import load_script, tree_allclose

from imexjax.analysis import receptive_field
from imexjax.models import UNet, UpConv, count_parameters
from imexjax.models._resample import average_pool, max_pool, pad_to_multiple
from imexjax.recipes import load_run, qtips_config, run_qtips
from imexjax.train import ConfigError


def images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def unet_parameters(levels: int, base: int, in_channels: int, outputs: int) -> int:
    """From the definition: per level two bias-free 3x3 convolutions and two norms (scale, shift)."""
    widths = [base * 2**level for level in range(levels)]
    pair = lambda c, w: 9 * c * w + 9 * w * w + 4 * w  # noqa: E731
    encoder = sum(pair(c, w) for c, w in zip([in_channels, *widths[:-1]], widths, strict=True))
    decoder = sum(4 * coarse * w + w + pair(2 * w, w) for w, coarse in zip(widths[:-1], widths[1:], strict=True))
    return encoder + decoder + base * outputs + outputs


def test_pooling_and_up_convolution_match_their_definitions():
    y = np.asarray(images((2, 4, 6, 3)))
    pooled_max, pooled_mean = np.asarray(max_pool(y)), np.asarray(average_pool(y))
    for i in range(2):
        for j in range(3):
            window = y[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
            np.testing.assert_allclose(pooled_max[:, i, j], window.max(axis=(1, 2)))
            np.testing.assert_allclose(pooled_mean[:, i, j], window.mean(axis=(1, 2)), rtol=1e-6)
    up = UpConv(3, 5, rngs=nnx.Rngs(0))
    up.bias[...] = jnp.arange(5.0)
    kernel, out = np.asarray(up.kernel[...]), np.asarray(up(y))
    assert out.shape == (2, 8, 12, 5)
    for p in range(2):
        for q in range(2):
            expected = np.einsum("bhwc,co->bhwo", y, kernel[p, q]) + np.arange(5.0)
            np.testing.assert_allclose(out[:, p::2, q::2], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("levels, size", [(1, (5, 7)), (2, (8, 8)), (3, (9, 13)), (3, (4, 4))])
def test_shapes_at_even_and_odd_sizes(levels, size):
    model = UNet(levels, 2, in_channels=3, num_outputs=4, rngs=nnx.Rngs(0))
    out = model(images((2, *size, 3)))
    assert out.shape == (2, *size, 4) and out.dtype == jnp.float32


def test_bfloat16_states_give_float32_outputs():
    model = UNet(2, 2, in_channels=1, num_outputs=2, dtype="bfloat16", rngs=nnx.Rngs(0))
    out = model(images((1, 5, 6, 1)))
    assert out.shape == (1, 5, 6, 2) and out.dtype == jnp.float32


def test_an_odd_image_is_the_crop_of_its_zero_padded_image():
    model = UNet(3, 2, in_channels=1, num_outputs=2, rngs=nnx.Rngs(1))
    x = images((2, 9, 14, 1))
    padded, (top, left, height, width) = pad_to_multiple(x, 4)
    assert padded.shape == (2, 12, 16, 1) and (top, left) == (1, 1)
    assert tree_allclose(model(x), model(padded)[:, top : top + height, left : left + width], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("levels, base, in_channels, outputs", [(1, 3, 1, 2), (3, 4, 3, 1), (4, 3, 1, 4)])
def test_parameter_count_matches_the_formula(levels, base, in_channels, outputs):
    model = nnx.eval_shape(lambda: UNet(levels, base, in_channels=in_channels, num_outputs=outputs, rngs=nnx.Rngs(0)))
    counts = count_parameters(model)
    assert counts["total"] == unet_parameters(levels, base, in_channels, outputs)
    assert counts["head"] == base * outputs + outputs and counts["implicit"] == 0


def test_images_do_not_interact_and_the_field_is_bounded_by_the_depth():
    model = UNet(2, 2, in_channels=1, num_outputs=2, rngs=nnx.Rngs(0))
    x = images((3, 32, 32, 1))
    assert tree_allclose(model(x)[:1], model(x[:1]), rtol=1e-5, atol=1e-5)  # per-pixel norm: no batch pooling
    field = receptive_field(model, x[0], classes="all")
    rows, cols = np.nonzero(field.influence > 0)
    # two 3x3 convolutions, a 2x2 pool, two at stride 2, the 2x2 up-convolution, two more: at most 10 pixels away
    assert field.fraction < 1 and max(abs(rows - 16).max(), abs(cols - 16).max()) <= 10


def test_jit_and_gradients(x64):
    model = UNet(2, 4, in_channels=1, num_outputs=2, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    state = jax.tree.map(lambda v: v.astype(jnp.float64), state)
    x = np.asarray(images((1, 6, 6, 1)), np.float64)
    apply = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))
    assert tree_allclose(apply(state, x), model(x), rtol=1e-5, atol=1e-5)
    loss = lambda x: jnp.sum(jnp.sin(apply(state, x)))  # noqa: E731
    grad = jax.grad(loss)(x)
    direction = np.random.default_rng(1).standard_normal(x.shape)
    eps = 1e-3  # the network casts its input to float32: central differences of float32 states
    numeric = (loss(x + eps * direction) - loss(x - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(np.sum(grad * direction), numeric, rtol=1e-3)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(levels=0), "levels must be a positive integer"),
        (dict(base_width=0), "base_width must be a positive integer"),
        (dict(base_width=True), "base_width must be a positive integer"),
        (dict(norm="layer"), "unknown normalization"),
        (dict(dtype="float16"), "unknown dtype"),
    ],
)
def test_bad_arguments_raise_one_line(arguments, message):
    with pytest.raises(ValueError, match=message) as error:
        UNet(**(dict(levels=2, base_width=2) | arguments), in_channels=1, num_outputs=2, rngs=nnx.Rngs(0))
    assert "\n" not in str(error.value)


def test_images_too_small_for_the_levels_raise_one_line():
    model = UNet(3, 2, in_channels=1, num_outputs=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"images of 3x8 are too small for 3 levels: .* at least .* = 4"):
        model(images((1, 3, 8, 1)))
    with pytest.raises(ValueError, match="expected images of shape"):
        model(images((3, 8, 1)))


def test_config_needs_the_unet_fields_with_unet_only():
    small = qtips_config("small")
    with pytest.raises(ConfigError, match="unet_levels must be a positive integer") as refused:
        small.replace(network="unet")
    assert refused.value.field == "unet_levels"
    with pytest.raises(ConfigError, match="unet_base_width applies to the unet network only"):
        small.replace(unet_base_width=4)
    unet = qtips_config("small", "unet")
    assert (unet.network, unet.unet_levels, unet.unet_base_width, unet.label, unet.slug) == (
        "unet",
        4,
        3,
        "U-Net",
        "unet",
    )
    assert unet.model_options() == {"levels": 4, "base_width": 3, "norm": "batch", "dtype": "float32"}


def test_cli_picks_the_unet_preset_and_refuses_time_stepping_flags(capsys):
    cli = load_script("experiments/qtips.py")
    args = cli.parse_args(["--network", "unet", "--unet-base-width", "5"])
    assert cli.config_from_args(args, cli.QTIPS_NETWORK_PRESETS) == qtips_config("small", "unet").replace(
        unet_base_width=5
    )
    for argv, message in [
        (["--network", "unet", "--integrator", "imex"], "--integrator: the time-stepping flags do not apply"),
        (["--integrator", "imex", "--unet-levels", "3"], "--unet-levels apply to --network unet only"),
        (["--network", "multilevel"], "required: --integrator"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            cli.parse_args(argv)
        assert exit_.value.code == 1 and message in capsys.readouterr().err


def test_a_tiny_run_trains_resumes_and_compares(tmp_path, capsys):
    config = qtips_config("tiny", "unet").replace(epochs=1, num_train=8, num_val=8, norm="batch")
    result = run_qtips(config, tmp_path / "unet", progress=False)
    assert result.metrics["network"] == "unet" and result.metrics["params"] == unet_parameters(2, 4, 1, 4)
    run = load_run(tmp_path / "unet")
    assert isinstance(run.model, UNet) and run.config == config
    statistics = [v for p, v in nnx.to_flat_state(nnx.state(run.model, nnx.BatchStat)) if "running_mean" in str(p)]
    assert statistics and all(float(np.abs(s).max()) > 0 for s in statistics)  # the engine updated them
    compare = load_script("experiments/compare.py")
    assert compare.main([str(tmp_path / "unet"), "--out", str(tmp_path / "cmp")]) == 0
    row = (tmp_path / "cmp" / "comparison.md").read_text().splitlines()[-1].split("|")
    assert row[1].strip() == "U-Net batch s0" and 0 < float(row[6]) <= 100 and float(row[8]) > 0
