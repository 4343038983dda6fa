"""The documentation site: every Python block runs, the API reference lists every public name,
every public name has a docstring, and the site builds with `mkdocs build --strict`."""

import ast
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
PAGES_WITH_CODE = [page for page in PAGES if "```python" in page.read_text()]
PUBLIC_MODULES = (
    "imexjax",
    "imexjax.models",
    "imexjax.diffrax",
    "imexjax.analysis",
    "imexjax.tasks",
    "imexjax.train",
    "imexjax.recipes",
    "imexjax.data.qtips",
    "imexjax.data.nyu",
)


def python_blocks(text: str) -> list[str]:
    """The fenced ```python blocks of a Markdown text, list-indented ones dedented, in order."""
    return [textwrap.dedent(body) for _, body in re.findall(r"^( *)```python\n(.*?)^\1```", text, re.S | re.M)]


def public_names(module: str) -> list[str]:
    """The names a package's `__init__.py` re-exports (`from ._x import name as name`), in order."""
    tree = ast.parse((ROOT / module.replace(".", "/") / "__init__.py").read_text())
    return [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname == alias.name
    ]


def test_python_blocks_are_found_in_list_items():
    text = "a\n```python\nx = 1\n```\n- item\n\n  ```python\n  y = x + 1\n  ```\n"
    assert python_blocks(text) == ["x = 1\n", "y = x + 1\n"]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=[str(p.relative_to(DOCS)) for p in PAGES_WITH_CODE])
def test_code_blocks_run(page, tmp_path, monkeypatch):
    """A page's blocks run in order in one namespace, as a reader pastes them, in a scratch folder."""
    blocks = python_blocks(page.read_text())
    assert blocks, "a ```python fence the block parser does not find"
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks:
        exec(compile(block, str(page.relative_to(ROOT)), "exec"), namespace)


def test_api_reference_lists_every_public_name_once():
    documented = re.findall(r"^::: ([\w.]+)$", "\n".join(p.read_text() for p in (DOCS / "api").glob("*.md")), re.M)
    expected = [f"{module}.{name}" for module in PUBLIC_MODULES for name in public_names(module)]
    assert sorted(documented) == sorted(expected)


def test_every_public_name_has_a_docstring():
    griffe = pytest.importorskip("griffe")
    package = griffe.load("imexjax", search_paths=[str(ROOT)], resolve_aliases=True)
    missing = []
    for module in PUBLIC_MODULES:
        namespace = package[module.removeprefix("imexjax").removeprefix(".")] if module != "imexjax" else package
        for name in public_names(module):
            docstring = namespace[name].docstring
            if docstring is None or not docstring.value.strip():
                missing.append(f"{module}.{name}")
    assert not missing


def test_readme_and_getting_started_give_the_same_commands():
    readme, start = (ROOT / "README.md").read_text(), (DOCS / "getting-started.md").read_text()
    commands = re.findall(r"^    (python3 -m venv .*)$", readme, re.M)
    assert len(commands) == 2 and all(command in start for command in commands)


def test_site_builds_strict(tmp_path):
    """Broken links, missing references and docstring warnings fail the build (`strict: true`)."""
    for package in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(package)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for page in ("index.html", "api/imexjax.html", "guides/choosing-an-integrator.html"):
        assert (tmp_path / "site" / page).is_file()  # pages are files, so links work opened from disk
    api = (tmp_path / "site" / "api/imexjax.html").read_text()
    assert "imexjax.integrate" in api and "requires either Black or Ruff" not in result.stderr
    concepts = (tmp_path / "site" / "concepts.html").read_text()
    assert 'class="arithmatex"' in concepts and "javascripts/katex/katex.min.js" in concepts
    assert (tmp_path / "site" / "javascripts/katex/katex.min.js").is_file()  # the renderer ships with the site
