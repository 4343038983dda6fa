"""The multilevel time-stepping network: one level is TimeSteppingNet, every integrator, sizes, fields, a run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import assert_directional_derivative, integrator_names, tree_allclose

from imexjax.analysis import receptive_field
from imexjax.models import MultiLevelNet, TimeSteppingNet, count_parameters
from imexjax.recipes import load_run, qtips_config, run_qtips


def images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def multilevel_parameters(geometry, in_channels: int, outputs: int, imex: bool) -> int:
    """From the definition: blocks (opening, steps with their norms and implicit kernels), up-convolutions, merges."""
    widths = [w for _, w in geometry]
    total = 0
    for channels, (layers, width) in zip([in_channels, *widths[:-1]], geometry, strict=True):
        total += 9 * channels * width + 2 * width + (layers - 1) * (9 * width * width + 2 * width + 9 * width * imex)
    for width, coarse in zip(widths[:-1], widths[1:], strict=True):
        total += 4 * coarse * width + width + 9 * 2 * width * width + 2 * width
    return total + widths[0] * outputs + outputs


def test_one_level_is_the_time_stepping_network():
    x = images((2, 7, 9, 1))
    one = MultiLevelNet(((3, 4),), in_channels=1, num_outputs=3, rngs=nnx.Rngs(0))
    flat = TimeSteppingNet(((3, 4),), in_channels=1, num_outputs=3, rngs=nnx.Rngs(0))
    assert tree_allclose(one(x), flat(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("integrator", integrator_names())
def test_every_integrator_at_an_odd_size(integrator):
    model = MultiLevelNet(((2, 4), (2, 4)), in_channels=1, num_outputs=2, integrator=integrator, rngs=nnx.Rngs(0))
    out = model(images((1, 7, 9, 1)))
    assert out.shape == (1, 7, 9, 2) and bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize("integrator", ["imex", "euler"])
@pytest.mark.parametrize("geometry", [((3, 8), (2, 12), (2, 12), (2, 16)), ((2, 4), (3, 6))])
def test_parameter_count_matches_the_formula(geometry, integrator):
    model = nnx.eval_shape(
        lambda: MultiLevelNet(geometry, in_channels=1, num_outputs=4, integrator=integrator, rngs=nnx.Rngs(0))
    )
    assert count_parameters(model)["total"] == multilevel_parameters(geometry, 1, 4, integrator == "imex")


def test_the_coarse_implicit_solve_reaches_the_whole_image_and_euler_does_not():
    x = images((1, 32, 32, 1))
    fields = {
        integrator: receptive_field(
            MultiLevelNet(((2, 4), (2, 4)), in_channels=1, num_outputs=2, integrator=integrator, rngs=nnx.Rngs(0)),
            x,
            classes="all",
            threshold=0.0,
        ).fraction
        for integrator in ("imex", "euler")
    }
    assert fields["imex"] == 1.0 and fields["euler"] < 0.5


def test_jit_and_gradients_of_the_parameters():
    model = MultiLevelNet(((2, 4), (2, 4)), in_channels=1, num_outputs=2, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    x = images((2, 8, 8, 1))

    @jax.jit
    def loss(params):
        return jnp.mean(jnp.square(nnx.merge(graphdef, params)(x)))

    grads = jax.grad(loss)(params)
    kernels = grads["blocks"][1]["implicit_kernels"][...]
    assert kernels.shape == (1, 3, 3, 4) and float(jnp.abs(kernels).max()) > 0  # the coarse level's solve learns
    direction = jax.tree.map(lambda g: jnp.asarray(np.random.default_rng(1).standard_normal(g.shape), g.dtype), grads)
    assert_directional_derivative(loss, params, direction, eps=1e-2, rtol=2e-2)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(geometry=()), "geometry must be a non-empty list"),
        (dict(geometry=((2, 0),)), "geometry must be a non-empty list"),
        (dict(integrator="leapfrog"), "unknown integrator"),
        (dict(dtype="float16"), "unknown dtype"),
        (dict(num_outputs=0), "num_outputs must be a positive integer"),
    ],
)
def test_bad_arguments_raise_one_line(arguments, message):
    options = dict(geometry=((2, 4), (2, 4)), in_channels=1, num_outputs=2) | arguments
    with pytest.raises(ValueError, match=message) as error:
        MultiLevelNet(**options, rngs=nnx.Rngs(0))
    assert "\n" not in str(error.value)


def test_images_too_small_raise_one_line():
    model = MultiLevelNet(((2, 4), (2, 4), (2, 4)), in_channels=1, num_outputs=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="images of 8x3 are too small for 3 levels"):
        model(images((1, 8, 3, 1)))
    with pytest.raises(ValueError, match="kernel size k=3 exceeds the grid 2x2"):  # the coarsest implicit solve
        model(images((1, 8, 8, 1)))


def test_a_tiny_run_through_the_engine(tmp_path):
    config = qtips_config("tiny", "multilevel").replace(epochs=1, num_train=8, num_val=8)
    assert config.label == "multilevel IMEX" and config.slug == "multilevel-imex"
    result = run_qtips(config, tmp_path / "run", progress=False)
    assert result.metrics["network"] == "multilevel"
    assert result.metrics["params"] == multilevel_parameters(config.geometry, 1, 4, True)
    run = load_run(tmp_path / "run")
    assert isinstance(run.model, MultiLevelNet) and run.config == config
