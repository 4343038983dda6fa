"""The experiment scripts' answers to bad input and Ctrl-C: one line, no traceback, a stated exit status."""

import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, load_script
from PIL import Image

import imexjax.models._size as model_size
import imexjax.train._memory as train_memory
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
        (
            "qtips.py",
            ["--network", "unet", "--unet-levels", "10", "--unet-base-width", "32"],
            "GiB; lower --unet-levels or --unet-base-width",
        ),
        (
            "qtips.py",
            ["--network", "unet", "--unet-levels", "40"],
            "--unet-levels: UNet(levels=40, base_width=4) has at least 5.8e+25 parameters",
        ),
        (
            "nyu_depth.py",
            ["--format", "synthetic", "--resolution", "100000x100000"],
            "activations of a batch of 4 at 100000x100000: 1.75 TiB",
        ),
        (
            "qtips.py",
            ["--network", "multilevel", "--boundary", "periodic,reflect"],
            "error: --boundary must be one name for every level, got ('periodic', 'reflect')",
        ),
        ("qtips.py", [lambda tmp_path: _folder_of(tmp_path, _val_images_of_32x32)], "must share one size"),
        (
            "qtips.py",
            [lambda tmp_path: _folder_of(tmp_path, _latin1_list)],
            "is not UTF-8 text (byte 15); save it as UTF-8",
        ),
        ("qtips.py", ["--num-processes", "0", "--process-id", "-1"], "apply with --coordinator or --distributed"),
        ("qtips.py", ["--integrator", "leapfrog"], "error: unknown --integrator 'leapfrog'; choose one of euler,"),
        ("qtips.py", ["--norm", "layer"], "error: --norm: unknown normalization 'layer'; choose one of channel,"),
        ("qtips.py", ["--boundary", "mirror"], "error: unknown --boundary 'mirror'; choose one of periodic,"),
        ("qtips.py", ["--lr", "0"], "error: --lr must be a positive number, got 0.0"),
        ("qtips.py", ["--image-size", "16"], "error: --image-size must be at least 24, got 16"),
        (
            "qtips.py",
            ["--image-size", "32", lambda tmp_path: _folder_of(tmp_path, lambda root: None)],
            "error: --image-size 32 applies to generated data only, not to a --data-dir folder, whose images keep "
            "their own size: leave one of the two out",
        ),
        ("qtips.py", ["--implicit-init-scale", "0:1"], "error: --implicit-scale must be a positive number or a (low"),
        ("qtips.py", ["--network", "unet", "--unet-levels", "0"], "error: --unet-levels must be a positive integer"),
        ("qtips.py", ["--network", "transformer"], "error: unknown --network 'transformer'; choose one of"),
        ("nyu_depth.py", ["--format", "synthetic", "--resolution", "0x32"], "error: --resolution must be two positive"),
        (
            "nyu_depth.py",
            ["--format", "fastdepth", "--data", "/nonexistent", "--eval-split", "select"],
            "error: --eval-split select needs --format synthetic",
        ),
    ],
    ids=[
        "num-train",
        "geometry",
        "unet-levels",
        "unet-parameters",
        "resolution",
        "multilevel-boundaries",
        "sizes",
        "list",
        "processes",
        "integrator",
        "norm",
        "boundary-name",
        "lr",
        "image-size",
        "image-size-of-a-folder",
        "implicit-scale",
        "unet-levels-zero",
        "network",
        "resolution-zero",
        "select-of-nyu",
    ],
)
def test_bad_input_is_one_error_line_and_status_1_before_anything_is_written(
    tmp_path, capsys, monkeypatch, script, argv, message
):
    monkeypatch.setattr(train_memory, "machine_memory", lambda: MEMORY)
    monkeypatch.setattr(model_size, "machine_memory", lambda: MEMORY)
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
        ("protocol.py", ["--image-size", "20"], "--image-size must be at least 24, got 20"),
        ("protocol.py", ["--task", "depth", "--image-size", "128"], "--image-size applies to --task qtips"),
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


def test_an_error_names_the_flag_of_its_field(capsys):
    from imexjax._errors import ConfigError
    from imexjax._validate import FieldsError
    from imexjax.recipes import OneLineErrorParser, add_config_flags, run_command
    from imexjax.recipes._cli import flag_names, name_flags
    from imexjax.recipes._qtips_config import QTIPS_NETWORK_PRESETS

    parser = OneLineErrorParser(prog="x")
    parser.add_argument("--workdir")
    add_config_flags(parser, QTIPS_NETWORK_PRESETS, default="small", preset_help="presets")
    flags = flag_names(parser)
    assert (
        flags["learning_rate"] == "--lr" and flags["batch_size"] == "--batch-size" and flags["workdir"] == "--workdir"
    )
    assert flags["implicit_init_scale"] == "--implicit-scale" and flags["symmetric"] == "--symmetric"
    assert name_flags("batch_size must be even; batch_size 3", ["batch_size"], flags) == (
        "--batch-size must be even; batch_size 3"  # the first whole word only
    )
    assert name_flags("the workdir_old is a file", ["workdir"], flags) == "--workdir: the workdir_old is a file"
    assert name_flags("--workdir x is a file", ["workdir"], flags) == "--workdir x is a file"
    assert name_flags("no such thing", ["not_a_field"], flags) == "no such thing"

    def fail(error):
        def command():
            raise error

        return command

    for error, line in [
        (ConfigError("workdir /x is a file", field="workdir"), "error: --workdir /x is a file"),
        (
            FieldsError("lower num_train or num_val", fields=("num_train", "num_val")),
            "error: lower --num-train or --num-val",
        ),
        (ConfigError("a disk is full"), "error: a disk is full"),
    ]:
        assert run_command(fail(error), parser) == 1
        assert capsys.readouterr().err == line + "\n"


def test_run_command_prints_the_translated_line(capsys):
    from imexjax._errors import ConfigError
    from imexjax.recipes import OneLineErrorParser, run_command

    parser = OneLineErrorParser(prog="x")
    parser.add_argument("--batch-size", dest="batch_size", type=int)

    def command():
        raise ConfigError("batch size 3 does not divide over 2 devices; pick another batch_size", field="batch_size")

    assert run_command(command, parser) == 1
    assert capsys.readouterr().err == (
        "error: batch size 3 does not divide over 2 devices; pick another --batch-size\n"
    )
