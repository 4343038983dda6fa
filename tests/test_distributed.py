"""Data-parallel training: forced CPU devices, two processes on loopback, batch-size errors."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

from imexjax.train import ConfigError, check_batch_size

CLI = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "qtips.py"


def run_cli(workdir, *extra, env_extra=None, timeout=300):
    env = {**os.environ, **(env_extra or {})}
    command = [
        sys.executable,
        str(CLI),
        "--integrator",
        "imex",
        "--config",
        "tiny",
        "--epochs",
        "1",
        "--workdir",
        str(workdir),
        "--no-progress",
        *extra,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def metrics(workdir):
    return json.loads((pathlib.Path(workdir) / "metrics.json").read_text())


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("one") / "run"
    process = run_cli(workdir, env_extra={"XLA_FLAGS": ""})
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return metrics(workdir)


def test_four_devices_match_one_device(one_device_run, tmp_path):
    process = run_cli(tmp_path / "four", env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    four = metrics(tmp_path / "four")
    assert four["devices"] == 4 and one_device_run["devices"] == 1
    assert abs(four["val_loss"] - one_device_run["val_loss"]) < 1e-4


def test_two_processes_on_loopback_train_together(one_device_run, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def run_both(*extra):
        cluster = ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
        processes = [
            run_cli(tmp_path / "mp", *cluster, "--process-id", str(i), *extra, env_extra={"XLA_FLAGS": ""})
            for i in range(2)
        ]
        for process in processes:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err

    run_both()
    together = metrics(tmp_path / "mp")
    assert together["devices"] == 2
    assert abs(together["val_loss"] - one_device_run["val_loss"]) < 1e-4
    run_both("--epochs", "2")  # both processes resume from the shared checkpoint
    assert metrics(tmp_path / "mp")["epochs"] == 2
    assert [json.loads(line)["epoch"] for line in (tmp_path / "mp" / "history.jsonl").read_text().splitlines()] == [
        1,
        2,
    ]


def test_batch_size_must_divide_over_devices():
    check_batch_size(8, 4)
    with pytest.raises(ConfigError, match="batch size 10 does not divide over 4 devices; use --batch-size 8 or 12"):
        check_batch_size(10, 4)
    with pytest.raises(ConfigError, match="use --batch-size 3$"):
        check_batch_size(2, 3)


def test_a_zero_boundary_on_several_devices_stops_in_one_line_before_making_its_folder(tmp_path):
    workdir = tmp_path / "zero"
    process = run_cli(
        workdir, "--boundary", "zero", env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    )
    _, err = process.communicate(timeout=300)
    assert process.returncode == 1 and "Traceback" not in err
    assert err.strip() == (
        "error: boundary zero trains on one device only, and 2 are visible; "
        "make one visible (CUDA_VISIBLE_DEVICES=0) or use boundary periodic or reflect"
    )
    assert not workdir.exists()
