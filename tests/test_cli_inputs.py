"""The experiment scripts' answers to bad input and Ctrl-C: one line, no traceback, a stated exit status."""

import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, load_script
from PIL import Image

import imexjax.train._config as train_config
from imexjax.data.qtips import qtips_splits, write_qtips_folder
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


def run_script(script: str, argv: list[str], capsys) -> tuple[int, list[str], str]:
    """Runs an experiment script in-process; returns its exit status, its stderr lines and its stdout."""
    try:
        status = load_script(f"experiments/{script}").main(argv)
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, err.splitlines(), out


def _folder_of(tmp_path, damage) -> list[str]:
    """`--data-dir` of a small Q-tips folder that `damage(root)` has changed."""
    root = tmp_path / "qtips"
    write_qtips_folder(root, qtips_splits(seed=0, num_train=8, num_val=8))
    damage(root)
    return ["--data-dir", str(root)]


def _val_images_of_32x32(root) -> None:
    for path in (root / "val").glob("*/*.png"):
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(path)


def _latin1_list(root) -> None:
    (root / "train/filenames.txt").write_bytes("00000.png\nbild-\xe4.png\n".encode("latin-1"))


MEMORY = 16 * 2**30
"""The machine's memory the size checks see in these tests, whatever the machine has."""


@pytest.mark.parametrize(
    "script, argv, message",
    [
        ("qtips.py", ["--num-train", "1000000000000"], "generated images: 7.3 PiB, activations of a batch of 8"),
        ("qtips.py", ["--geometry", "1000000x1"], "GiB; lower --batch-size or the layers and widths of --geometry"),
        ("qtips.py", ["--network", "unet", "--unet-levels", "30"], "GiB; lower --unet-levels or --unet-base-width"),
        (
            "nyu_depth.py",
            ["--format", "synthetic", "--resolution", "100000x100000"],
            "activations of a batch of 4 at 100000x100000: 1.75 TiB",
        ),
        (
            "qtips.py",
            ["--network", "multilevel", "--boundary", "periodic,reflect"],
            "boundary takes one name per block with --network timestepping only, and multilevel takes one name",
        ),
        ("qtips.py", [lambda tmp_path: _folder_of(tmp_path, _val_images_of_32x32)], "must share one size"),
        (
            "qtips.py",
            [lambda tmp_path: _folder_of(tmp_path, _latin1_list)],
            "is not UTF-8 text (byte 15); save it as UTF-8",
        ),
        ("qtips.py", ["--num-processes", "0", "--process-id", "-1"], "apply with --coordinator or --distributed"),
    ],
    ids=["num-train", "geometry", "unet-levels", "resolution", "multilevel-boundaries", "sizes", "list", "processes"],
)
def test_bad_input_is_one_error_line_and_status_1_before_anything_is_written(
    tmp_path, capsys, monkeypatch, script, argv, message
):
    monkeypatch.setattr(train_config, "machine_memory", lambda: MEMORY)
    argv = [part for item in argv for part in (item(tmp_path) if callable(item) else [item])]
    integrator = [] if "unet" in argv else ["--integrator", "imex"]
    fixed = ["--config", "tiny", "--no-progress", "--no-compilation-cache", "--workdir", str(tmp_path / "run")]
    status, lines, _ = run_script(script, [*integrator, *fixed, *argv], capsys)
    assert status == 1 and len(lines) == 1 and lines[0].startswith("error: "), lines
    assert message in lines[0]
    if "of memory" in lines[0]:
        assert "more than this machine's 16 GiB" in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "script, argv, message",
    [
        ("qtips.py", ["--integrator", "imex", "--bogus"], "unrecognized arguments: --bogus"),
        ("qtips.py", ["--integrator", "leapfrog"], "argument --integrator: invalid choice: 'leapfrog'"),
        (
            "qtips.py",
            ["--network", "unet", "--integrator", "imex"],
            "--integrator: the time-stepping flags do not apply",
        ),
        (
            "nyu_depth.py",
            ["--integrator", "imex", "--resolution", "24by32"],
            "argument --resolution: expected HEIGHTxWIDTH",
        ),
        ("stability.py", [], "the following arguments are required: --workdir"),
        ("protocol.py", ["--jobs", "0"], "--jobs must be >= 1"),
        ("compare.py", [], "the following arguments are required: runs, --out"),
    ],
)
def test_usage_errors_are_one_line_and_status_1(script, argv, message, capsys):
    status, lines, _ = run_script(script, argv, capsys)
    assert status == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: {message}") and lines[0].endswith(" --help")  # `; see SCRIPT --help`


@pytest.mark.parametrize("script", ["qtips.py", "nyu_depth.py", "stability.py", "protocol.py", "compare.py"])
def test_help_still_prints_the_usage_and_exits_0(script, capsys):
    status, lines, out = run_script(script, ["--help"], capsys)
    assert (status, lines) == (0, []) and out.startswith("usage: ")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--distributed"], "cannot join a multi-process run: coordinator_address should be defined; run under a"),
        (
            ["--coordinator", "127.0.0.1:1", "--num-processes", "0", "--process-id", "-1"],
            "must be nonnegative, with process_id < num_processes. Got process_id=-1, num_processes=0; run under a",
        ),
    ],
    ids=["no-cluster", "negative"],
)
def test_cluster_flags_jax_refuses_are_one_line_and_status_1(tmp_path, argv, message):
    command = [sys.executable, str(ROOT / "experiments/qtips.py"), *TINY, "--workdir", str(tmp_path / "run"), *argv]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert finished.returncode == 1 and finished.stderr.count("\n") == 1, finished.stderr
    assert finished.stderr.startswith("error: ") and message in finished.stderr
    assert not (tmp_path / "run").exists()
