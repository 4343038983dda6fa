"""The experiment scripts' answers to bad input and Ctrl-C: one line, no traceback, a stated exit status."""

import signal
import subprocess
import sys

import pytest
from helpers import ROOT, load_script

from imexjax.train import RunDir

TINY = ["--integrator", "imex", "--config", "tiny", "--num-train", "16", "--num-val", "8", "--no-progress"]
INTERRUPTED = load_script("experiments/_interrupts.py").MESSAGE


def interrupt_qtips(argv: list[str], ready: str) -> tuple[int, list[str]]:
    """Runs experiments/qtips.py and sends it SIGINT once a line of its stderr contains `ready`.

    Python's `-X importtime` writes a line on stderr as each import ends, so `ready` can also
    name a module: the signal then comes right after that import.

    Returns:
      The exit status and the lines of stderr after `ready`'s, `-X importtime`'s left out.
    """
    command = [sys.executable, "-X", "importtime", str(ROOT / "experiments/qtips.py"), *TINY, *argv]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT) as process:
        for line in process.stderr:
            if ready in line:
                process.send_signal(signal.SIGINT)
                break
        else:
            pytest.fail(f"experiments/qtips.py ended (status {process.wait()}) before writing {ready!r}")
        rest = [line.rstrip("\n") for line in process.stderr if not line.startswith("import time:")]
    return process.wait(), rest


@pytest.mark.parametrize(
    "ready",
    [
        "| _interrupts",  # the imports of JAX and imexjax have begun
        "| imexjax.recipes",  # the imports are done: start-up (JAX's backends, compilation) follows
        "epoch 1:",  # training, after the first epoch's checkpoint
    ],
    ids=["imports", "start-up", "training"],
)
def test_ctrl_c_at_any_moment_is_one_line_and_status_130_and_a_rerun_resumes(tmp_path, ready, capsys):
    workdir = tmp_path / "run"
    status, lines = interrupt_qtips(["--epochs", "200", "--workdir", str(workdir), "--no-compilation-cache"], ready)
    assert (status, lines) == (130, [INTERRUPTED])  # not -11 (a crash in the interpreter's teardown)
    if ready != "epoch 1:":
        return
    done = max(RunDir(workdir).saved_epochs())
    assert load_script("experiments/qtips.py").main([*TINY, "--epochs", str(done + 1), "--workdir", str(workdir)]) == 0
    epochs = [line.split(":")[0] for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert epochs == [f"epoch {done + 1}"]
