"""The README's Python example runs as written, and the README keeps its two set-up commands."""

import pathlib
import re

from test_docs import python_blocks

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_python_blocks_run(tmp_path, monkeypatch):
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["y_imex"].shape == namespace["y_resnet"].shape == (2, 32, 32, 4)


def test_setup_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^    (python3 -m venv .*)$", readme, re.M)
    assert len(commands) == 2
    assert commands[1].split("&& ", 2)[2] in ci  # pip install -e ".[test]" && python -m pytest
