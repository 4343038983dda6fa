"""Importing the library has no side effects and loads only what the imported layer needs."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow_datasets", "tensorflow", "orbax", "h5py", "grain", "matplotlib", "scipy", "PIL")


def imported_after(statement: str, *, blocked: tuple[str, ...] = ()) -> set[str]:
    """The top-level packages of `HEAVY` that a fresh interpreter has loaded after `statement`."""
    block = "".join(f"sys.modules[{name!r}] = None; " for name in blocked)  # importing them raises ImportError
    loaded = "{m.split('.')[0] for m in sys.modules if sys.modules[m] is not None}"
    code = f"import sys; {block}{statement}; print(' '.join(sorted({loaded} & {set(HEAVY)!r})))"
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert finished.returncode == 0, finished.stderr
    return set(finished.stdout.split())


@pytest.mark.parametrize("module", ["imexjax", "imexjax.models", "imexjax.analysis", "imexjax.tasks", "imexjax.data"])
def test_core_layers_import_no_heavy_dependency(module):
    assert imported_after(f"import {module}") == set()


def test_importing_changes_no_matplotlib_backend():
    code = "import matplotlib; matplotlib.use('svg'); import imexjax.recipes, imexjax.analysis, imexjax.tasks; "
    code += "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()"
    assert "matplotlib" in imported_after(code)


def test_the_experiments_import_and_parse_without_tensorflow_datasets():
    statement = "import runpy, sys; sys.path.insert(0, 'experiments'); "  # as python SCRIPT does
    for script in ("qtips.py", "nyu_depth.py", "compare.py", "stability.py"):
        statement += f"runpy.run_path('experiments/{script}', run_name='imported'); "
    statement += (
        "cli = runpy.run_path('experiments/qtips.py', run_name='imported'); "
        "cli['parse_args'](['--integrator', 'imex', '--config', 'tiny'])"
    )
    assert "tensorflow_datasets" not in imported_after(statement, blocked=("tensorflow_datasets",))
