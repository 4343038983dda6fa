"""The experiment scripts' persistent compilation cache: reused by a second process, never wrongly."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from helpers import load_script

from imexjax.train import default_compilation_cache_dir

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--integrator", "imex", "--config", "tiny", "--epochs", "1", "--num-train", "16", "--num-val", "8"]


def _run(workdir: pathlib.Path, *flags: str, env: dict[str, str] | None = None) -> dict:
    """Runs `experiments/qtips.py` on the tiny config in a fresh process; returns its metrics.json."""
    command = [sys.executable, str(ROOT / "experiments/qtips.py"), *TINY, "--workdir", str(workdir), "--no-progress"]
    finished = subprocess.run(
        [*command, *flags], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads((workdir / "metrics.json").read_text())


def _scores(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k.startswith("val_")}


def test_a_second_process_reads_every_program_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    cold = _run(tmp_path / "cold", "--compilation-cache-dir", str(cache))
    assert cold["compilation_cache"]["dir"] == str(cache)
    assert cold["compilation_cache"]["misses"] > 0 and any(cache.iterdir())
    warm = _run(tmp_path / "warm", "--compilation-cache-dir", str(cache))
    assert warm["compilation_cache"]["hits"] == cold["compilation_cache"]["misses"]
    assert warm["compilation_cache"]["misses"] == 0
    assert _scores(warm) == _scores(cold)

    # Other XLA flags are another key: nothing is read, everything compiles anew.
    flags = {"XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_fast_min_max=false").strip()}
    other = _run(tmp_path / "other-flags", "--compilation-cache-dir", str(cache), env=flags)
    assert other["compilation_cache"]["hits"] == 0 and other["compilation_cache"]["misses"] > 0

    # Entries cut short (a process killed while writing them) are not used: the run compiles and ends the same.
    for entry in cache.iterdir():
        if entry.is_file() and entry.stat().st_size > 100:
            entry.write_bytes(entry.read_bytes()[:100])
    damaged = _run(tmp_path / "damaged", "--compilation-cache-dir", str(cache))
    assert _scores(damaged) == _scores(cold)

    off = _run(tmp_path / "off", "--no-compilation-cache")
    assert off["compilation_cache"] is None and _scores(off) == _scores(cold)


def test_the_default_folder_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_compilation_cache_dir() == tmp_path / "imexjax" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_compilation_cache_dir() == pathlib.Path.home() / ".cache" / "imexjax" / "jax"


def test_an_unwritable_cache_folder_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    flags = ["--compilation-cache-dir", str(blocker / "cache")]
    code = load_script("experiments/qtips.py").main([*TINY, "--workdir", str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "cannot create the compilation cache folder" in err and len(err.splitlines()) == 1
    assert "--compilation-cache-dir or --no-compilation-cache" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("script", ["experiments/qtips.py", "experiments/protocol.py"])
def test_the_two_cache_flags_contradict_each_other(script, capsys):
    argv = ["--no-compilation-cache", "--compilation-cache-dir", "somewhere"]
    with pytest.raises(SystemExit) as exit_:
        load_script(script).parse_args([*TINY, *argv] if script.endswith("qtips.py") else argv)
    assert exit_.value.code == 1
    assert "not allowed with argument" in capsys.readouterr().err
