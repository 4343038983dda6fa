"""Shared test configuration: global JAX config, the `x64` fixture and the `quick` selection.

Global JAX configuration lives here and nowhere else; tests never change it themselves.
Float64 is NOT enabled globally: model tests run in the float32 the library is used in.
Tests that need float64 (dense-matrix oracles, convergence orders, finite differences)
request the `x64` fixture, which enables it only for the duration of that test.
"""

import os

import jax
import pytest

# Default to float32 whatever the environment says (JAX_ENABLE_X64), so that every test
# that does not ask for `x64` sees the dtypes a user sees.
jax.config.update("jax_enable_x64", False)
# On GPU, float32 matmuls and convolutions default to TF32 (~1e-3 relative error), which
# the float32 tolerances of the operator tests are not meant to absorb. No effect on CPU.
jax.config.update("jax_default_matmul_precision", "highest")
# The experiment scripts turn on JAX's persistent compilation cache; in the test process (which
# calls their `main`) it stays off, so every test compiles what it runs and leaves no files.
jax.config.update("jax_enable_compilation_cache", False)
# JAX's backend starts here, on the devices the environment gives (one CPU device unless XLA_FLAGS says
# otherwise), so a script's `main` called in the test process (which may ask XLA for two CPU devices)
# cannot change the devices of the tests that run after it in the same worker.
jax.devices()

QUICK_MODULES = (
    "test_operators.py",
    "test_integrate.py",
    "test_solvers.py",
    "test_exponential.py",
    "test_imex_rk2.py",
    "test_metrics_losses.py",
    "test_loader.py",
)
"""The inner loop, `python -m pytest -m quick`: the operators against dense matrices, every integrator's
order and gradients, the solvers, the losses and the loader. No network is built and no script is
run; the full suite (`python -m pytest`, as CI runs it) does that."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks the tests of `QUICK_MODULES` `quick`."""
    for item in items:
        if item.path.name in QUICK_MODULES:
            item.add_marker(pytest.mark.quick)


@pytest.fixture(autouse=True, scope="session")
def compilation_cache_of_subprocesses(tmp_path_factory):
    """Scripts started as subprocesses keep their compilation cache in a folder of the session, not the user's."""
    os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg_cache"))
    yield


@pytest.fixture
def x64():
    """Enables float64 for one test (`jax.enable_x64`, a context manager in jax >= 0.8)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(autouse=True)
def xla_flags_restored():
    """A script's `main` called in the test process may add to `XLA_FLAGS` (its CPU settings); later tests'
    subprocesses must not inherit them."""
    saved = os.environ.get("XLA_FLAGS")
    yield
    if saved is None:
        os.environ.pop("XLA_FLAGS", None)
    else:
        os.environ["XLA_FLAGS"] = saved
