"""Data-parallel training: forced CPU devices, two processes on loopback, batch-size errors."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
from helpers import load_script

from imexjax.recipes import QTIPS_NETWORK_PRESETS, configure_cpu_from_flags
from imexjax.train import ConfigError, check_batch_size, route_cpu_convolutions, use_cpu_devices

CLI = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "qtips.py"
parse_qtips = load_script("experiments/qtips.py").parse_args


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


def finished(workdir, *extra, env_extra=None):
    """Runs the CLI to the end; returns its metrics."""
    process = run_cli(workdir, *extra, env_extra=env_extra)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return metrics(workdir)


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory):
    return finished(tmp_path_factory.mktemp("one") / "run", "--cpu-devices", "1", env_extra={"XLA_FLAGS": ""})


def test_the_scripts_split_the_cpu_in_two_by_default_and_batch_norm_sees_the_whole_batch(one_device_run, tmp_path):
    """Two devices each normalize by the statistics of the whole batch (averaged across them), as one device does."""
    two = finished(tmp_path / "two", env_extra={"XLA_FLAGS": ""})
    assert two["devices"] == 2 and abs(two["val_loss"] - one_device_run["val_loss"]) < 1e-4
    one_batch_norm = finished(tmp_path / "one-bn", "--norm", "batch", "--cpu-devices", "1", env_extra={"XLA_FLAGS": ""})
    two_batch_norm = finished(tmp_path / "two-bn", "--norm", "batch", "--cpu-devices", "2", env_extra={"XLA_FLAGS": ""})
    assert two_batch_norm["devices"] == 2 and one_batch_norm["devices"] == 1
    assert abs(two_batch_norm["val_loss"] - one_batch_norm["val_loss"]) < 1e-4
    assert two_batch_norm["val_iou"] == pytest.approx(one_batch_norm["val_iou"], abs=1e-4)


def test_four_devices_match_one_device_and_xla_flags_win_over_the_default(one_device_run, tmp_path):
    four = finished(tmp_path / "four", env_extra={"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
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
    with pytest.raises(
        ConfigError, match="batch size 10 does not divide over 4 devices; set batch_size to 8 or 12"
    ) as error:
        check_batch_size(10, 4)
    assert error.value.field == "batch_size"
    with pytest.raises(ConfigError, match="set batch_size to 3$"):
        check_batch_size(2, 3)


def test_a_zero_boundary_epoch_on_two_devices_matches_one_device(tmp_path):
    # The zero boundary's sine-transform solves run inside the multi-device step (shard_map).
    one = finished(tmp_path / "one", "--boundary", "zero", "--cpu-devices", "1", env_extra={"XLA_FLAGS": ""})
    two = finished(tmp_path / "two", "--boundary", "zero", "--cpu-devices", "2", env_extra={"XLA_FLAGS": ""})
    assert one["devices"] == 1 and two["devices"] == 2
    assert abs(two["val_loss"] - one["val_loss"]) < 1e-4
    assert two["val_iou"] == pytest.approx(one["val_iou"], abs=1e-4)


@pytest.mark.parametrize(
    ("flag", "batch_size", "boundary", "xla_flags", "cores", "expected"),
    [
        ("auto", 8, "periodic", "", 2, 2),
        ("auto", 8, "periodic", "", 1, 1),
        ("auto", 7, "periodic", "", 2, 1),
        ("auto", 8, "zero", "", 2, 2),
        ("auto", 8, "zero,periodic", "", 2, 2),
        ("auto", 8, "periodic", "--xla_force_host_platform_device_count=3", 2, 3),
        ("4", 8, "periodic", "", 2, 4),
        ("1", 8, "periodic", "", 2, 1),
    ],
)
def test_cpu_devices_flag(monkeypatch, flag, batch_size, boundary, xla_flags, cores, expected):
    monkeypatch.setenv("XLA_FLAGS", xla_flags)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    args = parse_qtips(["--integrator", "imex", "--batch-size", str(batch_size), "--cpu-devices", flag])
    geometry = ((2, 4),) * len(boundary.split(","))
    boundaries = tuple(boundary.split(",")) if "," in boundary else boundary
    config = QTIPS_NETWORK_PRESETS[("small", "timestepping")].replace(
        batch_size=batch_size, boundary=boundaries, geometry=geometry
    )
    assert configure_cpu_from_flags(args, config) == expected
    count_flags = [f for f in os.environ["XLA_FLAGS"].split() if f.startswith("--xla_force_host_platform_device_count")]
    assert count_flags == (
        [] if expected == 1 and not xla_flags else [f"--xla_force_host_platform_device_count={expected}"]
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cpu-devices", "3", "--batch-size", "8"], "--cpu-devices 3 does not fit this run"),
        (["--cpu-devices", "2", "--distributed"], "--cpu-devices 2 does not apply to a multi-process run"),
    ],
)
def test_cpu_devices_that_cannot_work_are_one_line_errors(monkeypatch, tmp_path, capsys, argv, message):
    monkeypatch.setenv("XLA_FLAGS", "")
    argv = ["--integrator", "imex", "--config", "tiny", "--workdir", str(tmp_path / "run"), *argv]
    assert load_script("experiments/qtips.py").main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and not (tmp_path / "run").exists()


def test_a_malformed_device_count_in_xla_flags_is_a_config_error(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=two")
    with pytest.raises(ConfigError, match="not a positive count"):
        use_cpu_devices(2)


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_cpu_devices_flag_refuses_non_positive_counts(value, capsys):
    with pytest.raises(SystemExit):
        parse_qtips(["--integrator", "imex", "--cpu-devices", value])
    assert "--cpu-devices: expected auto or a positive integer" in capsys.readouterr().err


EIGEN = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


@pytest.mark.parametrize(
    ("widest", "devices", "xla_flags", "routed", "flags_after"),
    [
        (16, 1, "", False, ""),
        (24, 1, "", True, EIGEN),
        (32, 2, "", False, ""),
        (64, 2, "--xla_force_host_platform_device_count=2", True, f"--xla_force_host_platform_device_count=2 {EIGEN}"),
        (64, 1, "--xla_cpu_experimental_ynn_fusion_type=individual_convolution", False, None),
        (16, 1, EIGEN, True, EIGEN),
    ],
)
def test_convolutions_go_to_eigen_where_measured_faster_and_a_users_flag_stands(
    monkeypatch, widest, devices, xla_flags, routed, flags_after
):
    monkeypatch.setenv("XLA_FLAGS", xla_flags)
    assert route_cpu_convolutions(widest, devices) is routed
    assert os.environ["XLA_FLAGS"] == (xla_flags if flags_after is None else flags_after)


SGD_STEP = """
import json
import numpy as np
import optax
from flax import nnx
import jax
from imexjax.tasks import SegmentationTask
from imexjax.train import TrainConfig, build_model, data_mesh, make_train_step, replicate, shard_batch

config = TrainConfig(name="sgd", geometry=((2, 4),), integrator="imex", norm="batch", batch_size=8)
graphdef, params, rest = nnx.split(build_model(config, in_channels=1, num_outputs=3), nnx.Param, ...)
optimizer = optax.sgd(0.1)
mesh = data_mesh()
step = make_train_step(graphdef, optimizer, SegmentationTask(3), mesh)
before = jax.tree.map(np.asarray, params)  # the step donates the state's buffers
state = replicate(mesh, {"params": params, "rest": rest, "opt_state": optimizer.init(params)})
rng = np.random.default_rng(0)
batch = rng.standard_normal((8, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, (8, 8, 8)).astype(np.int32)
new, sums = step(state, *shard_batch(mesh, batch))
deltas = jax.tree.map(lambda a, b: (np.asarray(a) - b).ravel().tolist(), new["params"], before)
print(json.dumps({"devices": mesh.size, "deltas": jax.tree.leaves(deltas), "loss": float(sums["loss"])}))
"""


def test_an_sgd_step_on_several_devices_equals_one_device():
    """The update is the gradient of the whole batch's mean loss whatever the devices (SGD shows its scale)."""

    def step(devices):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        done = subprocess.run([sys.executable, "-c", SGD_STEP], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    one, two, four = step(1), step(2), step(4)
    assert (one["devices"], two["devices"], four["devices"]) == (1, 2, 4)
    for other in (two, four):
        assert other["loss"] == pytest.approx(one["loss"], rel=1e-5)
        for a, b in zip(one["deltas"], other["deltas"], strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-7)


SHARDED_CG = """
import jax, jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P
import imexjax as ix

jax.config.update("jax_enable_x64", True)
mesh = jax.make_mesh((2,), ("data",))
op = ix.ConvDiffusion(boundary="zero", tol=1e-12, max_steps=500)  # a general kernel: preconditioned CG
kernel = jax.random.normal(jax.random.key(0), (3, 3, 3), jnp.float64) / 3
states = jax.random.normal(jax.random.key(1), (4, 6, 7, 3), jnp.float64)

def loss(kernel, states):
    return jnp.sum(jnp.sin(op.resolve(0.7, states, kernel)))

def local(kernel, states):  # the devices' losses summed; the kernel's gradient is summed by shard_map
    value, grad = jax.value_and_grad(loss)(kernel, states)
    return jax.lax.psum(value, "data"), grad

sharded = jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), P("data")), out_specs=(P(), P())))
value, grad = sharded(kernel, jax.device_put(states, NamedSharding(mesh, P("data"))))
value_one, grad_one = jax.value_and_grad(loss)(kernel, states)
print(len(jax.devices()), float(abs(value - value_one)), float(jnp.max(jnp.abs(grad - grad_one))))
"""


def test_a_general_kernels_cg_solve_and_its_gradient_run_inside_shard_map():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run([sys.executable, "-c", SHARDED_CG], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    devices, value_error, grad_error = done.stdout.split()
    assert devices == "2" and float(value_error) < 1e-10 and float(grad_error) < 1e-10
