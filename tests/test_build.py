"""`build_compiled`: a network's parameters in one compiled call, the eager constructor's values bit for bit."""

import jax
import numpy as np
import pytest
from flax import nnx
from helpers import integrator_names

from imexjax.models import MultiLevelNet, TimeSteppingNet, build_compiled
from imexjax.recipes import QTIPS_NETWORK_PRESETS
from imexjax.train import build_model


def _factories(integrator: str, boundary: str, seed: int):
    """Tiny networks of both time-stepping kinds on `integrator`; each factory builds a fresh one from `seed`."""
    options = dict(integrator=integrator, boundary=boundary, in_channels=2, num_outputs=3)
    return [
        lambda: TimeSteppingNet(((2, 4), (2, 6)), implicit_init_scale=(0.5, 4.0), rngs=nnx.Rngs(seed), **options),
        lambda: MultiLevelNet(((2, 4), (2, 6)), rngs=nnx.Rngs(seed), **options),
    ]


def _assert_same_modules(eager: nnx.Module, compiled: nnx.Module) -> None:
    assert nnx.graphdef(eager) == nnx.graphdef(compiled)
    eager_leaves = jax.tree.leaves_with_path(nnx.state(eager))
    compiled_leaves = jax.tree.leaves(nnx.state(compiled))
    assert len(eager_leaves) == len(compiled_leaves)
    for (path, a), b in zip(eager_leaves, compiled_leaves, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, jax.tree_util.keystr(path)
        assert np.array_equal(a, b), f"{jax.tree_util.keystr(path)} differs from the eager constructor's"


@pytest.mark.parametrize(
    ("integrator", "boundary"),
    [(name, "periodic") for name in integrator_names()] + [(name, "reflect") for name in integrator_names(imex=True)],
)
def test_compiled_build_equals_eager_bit_for_bit(integrator, boundary):
    for factory in _factories(integrator, boundary, seed=3):
        _assert_same_modules(factory(), build_compiled(factory))


def test_seeds_give_different_parameters():
    factory_0, factory_1 = (_factories("imex", "periodic", seed)[0] for seed in (0, 1))
    kernels = [build_compiled(f).blocks[0].opening.kernel[...] for f in (factory_0, factory_1)]
    assert not np.array_equal(*kernels)


def test_build_compiles_once():
    """Eagerly, a network compiles one program per distinct initializer shape; here exactly one."""
    compiles = []

    def listener(event: str, duration: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        build_compiled(lambda: MultiLevelNet(((2, 5), (2, 7), (1, 9)), in_channels=3, num_outputs=2, rngs=nnx.Rngs(7)))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert len(compiles) == 1


def test_bad_arguments_raise_before_compiling():
    with pytest.raises(ValueError, match="unknown integrator"):
        build_compiled(
            lambda: TimeSteppingNet(((2, 4),), in_channels=1, num_outputs=2, integrator="rk5", rngs=nnx.Rngs(0))
        )


@pytest.mark.parametrize("network", ["timestepping", "unet", "multilevel"])
def test_build_model_of_the_tiny_presets_is_compiled_and_eager_equal(network):
    config = QTIPS_NETWORK_PRESETS[("tiny", network)]
    if network != "unet":
        config = config.replace(integrator="imex")
    model = build_model(config, in_channels=1, num_outputs=4)
    eager = type(model)(in_channels=1, num_outputs=4, rngs=nnx.Rngs(config.seed), **config.model_options())
    _assert_same_modules(eager, model)


def test_inside_a_trace_the_enclosing_trace_builds():
    abstract = nnx.eval_shape(lambda: build_compiled(_factories("imex", "periodic", seed=0)[1]))
    assert isinstance(abstract.blocks[0].opening.kernel.value, jax.ShapeDtypeStruct)
    inside_jit = jax.jit(lambda: nnx.state(build_compiled(_factories("imex", "periodic", seed=0)[1])))()
    outside = nnx.state(build_compiled(_factories("imex", "periodic", seed=0)[1]))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(inside_jit), jax.tree.leaves(outside), strict=True))
