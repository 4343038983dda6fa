"""Test helpers: the lists of solvers and integrator names, `tree_allclose`, `conv_matrix`.

The lists are read from the registry (`imexjax.solvers.INTEGRATORS`), so a
new scheme runs through every contract test that is parametrized by them.
"""

import importlib.util
import pathlib
import sys

import jax
import numpy as np

import imexjax as ix
import imexjax.solvers
from imexjax.solvers import INTEGRATORS


def all_solvers() -> list[ix.AbstractSolver]:
    """Every solver of the registry (`imexjax.solvers.INTEGRATORS`), sorted by class name."""
    return sorted(INTEGRATORS.values(), key=lambda solver: type(solver).__name__)


def explicit_solvers() -> list[ix.AbstractSolver]:
    """The solvers of `all_solvers` that take one vector field."""
    return [solver for solver in all_solvers() if not solver.imex]


def imex_solvers() -> list[ix.AbstractSolver]:
    """The solvers of `all_solvers` that take an `(f_explicit, implicit)` pair of terms."""
    return [solver for solver in all_solvers() if solver.imex]


def solver_id(solver: ix.AbstractSolver) -> str:
    """The test id of a solver: its class name."""
    return type(solver).__name__


def integrator_names(*, imex: bool | None = None) -> list[str]:
    """The names a network can be built on (`imexjax.solvers.INTEGRATORS`), in its order.

    Args:
      imex: keep only the names of IMEX solvers (True) or of explicit ones (False); all if None.
    """
    return [name for name, solver in INTEGRATORS.items() if imex is None or solver.imex == imex]


class _Comparison:
    """The result of `tree_allclose`: truthy when close; its repr says where it is not."""

    def __init__(self, ok: bool, message: str):
        self.ok = ok
        self.message = message

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"tree_allclose({self.message})"


def tree_allclose(a, b, *, rtol: float, atol: float) -> _Comparison:
    """Whether two pytrees have the same structure and shapes and elementwise close leaves.

    Leaf by leaf, `|a - b| <= atol + rtol * |b|` (numpy's `allclose`), compared in float64
    or complex128 whatever the leaves' dtypes (bfloat16 included). NaNs are never close.
    Use as `assert tree_allclose(x, y, rtol=..., atol=...)`: on failure pytest prints the
    path of the first mismatching leaf and its largest absolute and relative errors.

    Args:
      a: a pytree of arrays or numbers.
      b: a pytree with the structure and shapes of `a`; the reference for `rtol`.
      rtol: relative tolerance (keyword only, no default: every test states its own).
      atol: absolute tolerance (keyword only, no default).
    """
    leaves_a, tree_a = jax.tree_util.tree_flatten_with_path(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten_with_path(b)
    if tree_a != tree_b:
        return _Comparison(False, f"structures differ: {tree_a} vs {tree_b}")
    for (path, x), (_, y) in zip(leaves_a, leaves_b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        name = jax.tree_util.keystr(path) or "<root>"
        if x.shape != y.shape:
            return _Comparison(False, f"{name}: shapes differ: {x.shape} vs {y.shape}")
        wide = np.complex128 if (np.iscomplexobj(x) or np.iscomplexobj(y)) else np.float64
        x, y = x.astype(wide), y.astype(wide)
        if not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=False):
            error = np.abs(x - y)
            worst = np.unravel_index(np.nanargmax(np.where(np.isnan(error), np.inf, error)), error.shape)
            relative = np.max(error / np.maximum(np.abs(y), np.finfo(np.float64).tiny))
            return _Comparison(
                False,
                f"{name}: max abs error {np.max(error):.3e} at {tuple(int(i) for i in worst)}, "
                f"max rel error {relative:.3e}, rtol={rtol}, atol={atol}",
            )
    return _Comparison(True, "close")


def conv_matrix(kernel, height: int, width: int) -> np.ndarray:
    """The dense matrix of the periodic depthwise correlation C, built from its definition.

    (C y)[i, j, c] = sum_{a, b} kernel[a, b, c] * y[(i + a - k//2) mod H, (j + b - k//2) mod W, c]

    as `ix.ConvDiffusion` documents it. States (H, W, channels) are flattened in row-major
    order, so that `(C @ y.reshape(-1)).reshape(H, W, channels)` is `C y`. Built with explicit
    loops over the definition, independently of the library, in float64.

    Args:
      kernel: shape (k, k, channels).
      height: H.
      width: W.

    Returns:
      A float64 array of shape (H * W * channels, H * W * channels).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    k, _, channels = kernel.shape
    half = k // 2
    n = height * width * channels

    def index(i, j, c):
        return (i * width + j) * channels + c

    matrix = np.zeros((n, n))
    for i in range(height):
        for j in range(width):
            for c in range(channels):
                for a in range(k):
                    for b in range(k):
                        source = index((i + a - half) % height, (j + b - half) % width, c)
                        matrix[index(i, j, c), source] += kernel[a, b, c]
    return matrix


ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script(relative_path: str):
    """Imports a script of the repository (e.g. `experiments/qtips.py`) as a module, without running it.

    The script's folder goes on `sys.path` (last, so that it shadows nothing), as `python SCRIPT` puts
    it first: the scripts import their folder's private modules (`benchmarks/_timing.py`).
    """
    path = ROOT / relative_path
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem + "_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(directory: pathlib.Path) -> dict[str, tuple[int, int]]:
    """Every file under `directory` with its size and modification time, to show that nothing was touched."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
        if p.is_file()
    }


def assert_directional_derivative(loss, params, direction, *, eps: float = 1e-2, rtol: float = 2e-2) -> None:
    """Asserts that `grad(loss)(params)` along `direction` matches the central difference at step `eps`."""
    grads = jax.grad(loss)(params)
    shifted = lambda s: jax.tree.map(lambda p, d: p + s * eps * d, params, direction)  # noqa: E731
    numeric = (loss(shifted(1)) - loss(shifted(-1))) / (2 * eps)
    analytic = sum(
        np.sum(np.asarray(g) * np.asarray(d))
        for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(direction), strict=True)
    )
    assert abs(float(analytic)) > 1e-6, "the direction does not change the loss"
    np.testing.assert_allclose(analytic, numeric, rtol=rtol)
