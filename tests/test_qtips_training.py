"""End-to-end Q-tips training: the tiny config, resume after SIGKILL, NaN guard, CLI errors."""

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import load_script, snapshot, tree_allclose

from imexjax.data.qtips import qtips_splits, write_qtips_folder
from imexjax.models import INTEGRATORS, TimeSteppingNet
from imexjax.recipes import QtipsConfig, load_run, qtips_config, qtips_validation_images, run_qtips
from imexjax.tasks import SegmentationTask
from imexjax.train import (
    ArraySource,
    ConfigError,
    Loader,
    RunDir,
    TrainingDivergedError,
    build_model,
    train_and_evaluate,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLI = ROOT / "experiments" / "qtips.py"
TINY = qtips_config("tiny")


def load_cli():
    return load_script("experiments/qtips.py")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny") / "run"
    result = run_qtips(TINY.replace(epochs=3), workdir, progress=False)
    return workdir, result


def test_tiny_run_writes_metrics_history_checkpoints_and_figures(tiny_run):
    workdir, result = tiny_run
    metrics = json.loads((workdir / "metrics.json").read_text())
    for key in (
        "val_iou",
        "val_iou_per_class",
        "val_miou_all",
        "val_loss",
        "val_accuracy",
        "params",
        "integrator",
        "config",
        "epochs",
        "seed",
        "devices",
        "seconds",
        "versions",
        "device_kind",
    ):
        assert key in metrics, key
    assert metrics["integrator"] == "imex" and metrics["config"] == "tiny" and metrics["epochs"] == 3
    assert len(metrics["val_iou_per_class"]) == 3
    assert 0.0 <= metrics["val_iou"] <= 1.0 and 0.0 <= metrics["val_accuracy"] <= 100.0
    history = [json.loads(line) for line in (workdir / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]  # it learns something
    assert metrics["val_loss"] == min(r["val_loss"] for r in history)  # reported: the best checkpoint
    best = min(history, key=lambda r: r["val_loss"])["epoch"]
    kept = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert kept == sorted({2, 3, best})  # the newest two and the best
    for figure in ("predictions.png", "probability_maps.png", "history.png"):
        assert (workdir / figure).stat().st_size > 1000


def test_validation_uses_the_validation_split(tiny_run):
    _, result = tiny_run
    assert result.metrics["num_val"] == TINY.num_val and result.metrics["num_train"] == TINY.num_train


def test_resume_after_sigkill_ends_as_an_uninterrupted_run(tiny_run, tmp_path):
    workdir_full, _ = tiny_run
    workdir = tmp_path / "killed"
    command = [
        sys.executable,
        str(CLI),
        "--integrator",
        "imex",
        "--config",
        "tiny",
        "--epochs",
        "3",
        "--workdir",
        str(workdir),
        "--no-progress",
        "--cpu-devices",
        "1",  # as the uninterrupted run, in this process (two devices sum the training loss in another order)
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    first = workdir / "checkpoints" / "1"
    deadline = time.monotonic() + 240
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert first.exists()
    assert not (workdir / "metrics.json").exists()  # the kill came before the run's end
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert finished.returncode == 0, finished.stderr
    resumed = [json.loads(line) for line in (workdir / "history.jsonl").read_text().splitlines()]
    uninterrupted = [json.loads(line) for line in (workdir_full / "history.jsonl").read_text().splitlines()]
    drop = ("epoch_seconds", "images_per_second")
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed] == [
        {k: v for k, v in r.items() if k not in drop} for r in uninterrupted
    ]
    a = json.loads((workdir / "metrics.json").read_text())
    b = json.loads((workdir_full / "metrics.json").read_text())
    assert (a["val_loss"], a["val_iou"], a["val_accuracy"]) == (b["val_loss"], b["val_iou"], b["val_accuracy"])


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    splits = qtips_splits(seed=0, num_train=16, num_val=8)
    x = splits["train"][0].astype(np.float32)[..., None] / 255
    y = splits["train"][1].astype(np.int32)
    val = Loader(ArraySource(x[:8], y[:8]), 8, shuffle=False, drop_remainder=False)
    config = TINY.replace(epochs=1)
    task = SegmentationTask(4)
    train_and_evaluate(
        config,
        tmp_path,
        task=task,
        train_loader=Loader(ArraySource(x, y), 8, shuffle=True, drop_remainder=True),
        val_loader=val,
        in_channels=1,
        progress=False,
    )
    before = snapshot(tmp_path / "checkpoints")
    poisoned = x.copy()
    poisoned[3, 5, 5, 0] = np.nan
    with pytest.raises(TrainingDivergedError, match="kept the checkpoint of epoch 1"):
        train_and_evaluate(
            config.replace(epochs=2),
            tmp_path,
            task=task,
            train_loader=Loader(ArraySource(poisoned, y), 8, shuffle=True, drop_remainder=True),
            val_loader=val,
            in_channels=1,
            progress=False,
        )
    assert snapshot(tmp_path / "checkpoints") == before


def test_a_workdir_of_another_config_is_refused_untouched(tiny_run):
    workdir, _ = tiny_run
    before = snapshot(workdir)
    with pytest.raises(ConfigError, match="another configuration .*integrator"):
        run_qtips(TINY.replace(epochs=3, integrator="euler"), workdir, progress=False)
    with pytest.raises(ConfigError, match="another configuration .*dtype: 'float32' -> 'bfloat16'"):
        run_qtips(TINY.replace(epochs=3, dtype="bfloat16"), workdir, progress=False)
    assert snapshot(workdir) == before


def test_a_run_resumes_with_other_loop_settings_and_from_an_older_config(tiny_run, tmp_path):
    # unroll and remat change how the steps compile, not what they compute; a config.json
    # written before a field existed (here dtype, and unroll=None) reads as the defaults.
    workdir, _ = tiny_run
    saved = json.loads((workdir / "config.json").read_text())
    older = {k: v for k, v in saved.items() if k != "dtype"} | {"unroll": None}
    (tmp_path / "config.json").write_text(json.dumps(older))
    (tmp_path / "checkpoints" / "1").mkdir(parents=True)  # a run that saved an epoch binds its folder
    RunDir(tmp_path).check_config(TINY.replace(epochs=3, unroll=2, remat=True))
    assert QtipsConfig.from_json(older) == TINY.replace(epochs=3)
    with pytest.raises(ConfigError, match="another configuration .*dtype"):
        RunDir(tmp_path).check_config(TINY.replace(epochs=3, dtype="bfloat16"))


def test_a_resumed_run_on_other_data_is_refused_untouched(tiny_run, tmp_path):
    workdir, _ = tiny_run
    data = tmp_path / "data"
    write_qtips_folder(data, qtips_splits(seed=1, num_train=16, num_val=8))
    before = snapshot(workdir)
    with pytest.raises(ConfigError, match="run on other data .*'generated' -> "):
        run_qtips(TINY.replace(epochs=4), workdir, data_dir=data, progress=False)
    assert snapshot(workdir) == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--batch-size", "-1"], "batch-size must be a positive integer"),
        (["--lr", "0"], "--lr must be a positive number"),
        (["--batch-size", "64"], "holds a run with another configuration (batch_size: 8 -> 64); pass a new workdir"),
        (["--epochs", "3", "--data-dir", "/nonexistent/qtips"], "/nonexistent/qtips"),
    ],
)
def test_cli_bad_input_is_one_line_nonzero_and_leaves_the_workdir(tiny_run, capsys, argv, message):
    workdir, _ = tiny_run
    before = snapshot(workdir)
    code = load_cli().main(["--integrator", "imex", "--config", "tiny", "--workdir", str(workdir), *argv])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert snapshot(workdir) == before


def test_cli_refuses_a_batch_larger_than_the_split_in_one_line(tmp_path, capsys):
    argv = ["--integrator", "imex", "--config", "tiny", "--batch-size", "64", "--workdir", str(tmp_path / "run")]
    code = load_cli().main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err
    assert err.startswith("error: batch size 64 exceeds the 32 examples of the Q-tips train split")
    assert "--batch-size" in err


def test_cli_rejects_a_corrupt_png_and_bad_labels(tmp_path, capsys):
    data = tmp_path / "data"
    write_qtips_folder(data, qtips_splits(seed=1, num_train=8, num_val=4))
    cli = load_cli()
    label = data / "val" / "labels" / (data / "val" / "filenames.txt").read_text().split()[0]
    from PIL import Image

    Image.fromarray(np.full((64, 64), 7, np.uint8)).save(label)
    assert (
        cli.main(
            ["--integrator", "euler", "--config", "tiny", "--data-dir", str(data), "--workdir", str(tmp_path / "w")]
        )
        != 0
    )
    assert "outside 0..3" in capsys.readouterr().err
    image = data / "train" / "images" / (data / "train" / "filenames.txt").read_text().split()[0]
    image.write_bytes(b"not a png")
    assert (
        cli.main(
            ["--integrator", "euler", "--config", "tiny", "--data-dir", str(data), "--workdir", str(tmp_path / "w")]
        )
        != 0
    )
    assert str(image) in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_cli_sets_every_config_field_under_its_own_name(capsys):
    cli = load_cli()
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    help_text = capsys.readouterr().out
    for field in dataclasses.fields(QtipsConfig):
        if field.name != "name":
            assert f"--{field.name.replace('_', '-')}" in help_text, field.name
    assert "(preset: )" not in help_text  # every flag names its preset value (`auto` for remat)
    assert "(preset: auto)" in help_text
    argv = ["--integrator", "euler", "--config", "tiny", "--geometry", "2x4,3x6", "--implicit-scale", "1:8"]
    argv += [
        "--no-symmetric",
        "--remat",
        "off",
        "--num-train",
        "24",
        "--lr",
        "0.01",
        "--h",
        "0.5",
        "--schedule",
        "constant",
    ]
    config = cli.config_from_args(cli.parse_args(argv), cli.QTIPS_NETWORK_PRESETS)
    assert config == TINY.replace(
        integrator="euler",
        geometry=((2, 4), (3, 6)),
        implicit_init_scale=(1.0, 8.0),
        symmetric=False,
        remat=False,
        num_train=24,
        learning_rate=0.01,
        h=0.5,
        schedule="constant",
    )
    assert cli.config_from_args(cli.parse_args(["--integrator", "imex"]), cli.QTIPS_NETWORK_PRESETS) == qtips_config(
        "small"
    )


@pytest.mark.parametrize(
    "flag, expected", [("reflect", "reflect"), ("zero,reflect", ("zero", "reflect")), ("periodic", "periodic")]
)
def test_boundary_flag_takes_one_name_or_one_per_block_and_reaches_every_block(flag, expected):
    cli = load_cli()
    argv = ["--integrator", "imex", "--config", "tiny", "--geometry", "2x4,2x4", "--boundary", flag]
    config = cli.config_from_args(cli.parse_args(argv), cli.QTIPS_NETWORK_PRESETS)
    assert config.boundary == expected
    assert QtipsConfig.from_json(json.loads(json.dumps(config.to_json()))) == config
    model = build_model(config, in_channels=1, num_outputs=4)
    names = expected if isinstance(expected, tuple) else (expected,) * 2
    assert tuple(block.implicit.boundary for block in model.blocks) == names
    assert config.slug == {"reflect": "imex-reflect", "zero,reflect": "imex-zero-reflect", "periodic": "imex"}[flag]


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(boundary="mirror"), "unknown boundary .mirror.; choose one of"),
        (dict(boundary=("zero", "reflect", "zero")), "boundary must be one name or one per block \\(1\\), got 3"),
        (
            dict(integrator="etd", boundary="zero", implicit_kernel_size=5),
            "boundary 'zero' has an exponential .*which this integrator needs.* only for kernels of size <= 3",
        ),
        (
            dict(network="multilevel", geometry=((2, 4), (2, 4)), boundary=("zero", "zero", "zero")),
            "boundary must be one name for every level",
        ),
    ],
)
def test_boundaries_a_network_cannot_take_are_config_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        TINY.replace(**changes)


def test_boundary_flag_rejects_unknown_names_in_one_line(tmp_path, capsys):
    argv = ["--integrator", "imex", "--config", "tiny", "--boundary", "mirror", "--workdir", str(tmp_path)]
    assert load_cli().main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown --boundary 'mirror'; choose one of periodic, zero, reflect")
    assert "\n" not in err


def test_cli_unknown_integrator_or_config_exits_without_traceback():
    for argv, flag in (
        (["--integrator", "leapfrog"], "--integrator 'leapfrog'"),
        (["--integrator", "imex", "--config", "huge"], None),
        (["--integrator", "imex", "--dtype", "float16"], "--dtype 'float16'"),
    ):
        finished = subprocess.run([sys.executable, str(CLI), *argv], capture_output=True, text=True, timeout=120)
        assert finished.returncode == 1
        expected = f"error: unknown {flag}; choose one of" if flag else "argument --config: invalid choice: 'huge'"
        assert expected in finished.stderr and "Traceback" not in finished.stderr


def test_cli_trains_on_generated_images_of_the_image_size_and_records_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default workdir, under runs/
    argv = ["--integrator", "imex", "--config", "tiny", "--image-size", "32", "--epochs", "1", "--num-train", "8"]
    argv += ["--num-val", "4", "--batch-size", "4", "--no-progress", "--no-compilation-cache"]
    assert load_cli().main(argv) == 0
    assert "32x32 images" in capsys.readouterr().out
    workdir = tmp_path / "runs" / "qtips-tiny-imex-s0-32px"
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["image_size"] == 32 and metrics["resolution"] == [32, 32]
    images, labels = qtips_validation_images(load_run(workdir))
    assert images.shape == labels.shape == (4, 32, 32)


def test_compare_puts_runs_side_by_side(tiny_run, tmp_path, capsys):
    workdir, result = tiny_run
    compare = load_script("experiments/compare.py")
    assert compare.main([str(workdir), str(workdir), "--out", str(tmp_path / "cmp")]) == 0
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert table.count("| IMEX channel s0 |") == 2 and f"{result.metrics['val_iou']:.3f}" in table
    field = float(table.splitlines()[-1].split("|")[6])  # receptive field (%) of the centre pixel
    assert 0 < field <= 100
    for figure in ("comparison.png", "history.png"):
        assert (tmp_path / "cmp" / figure).stat().st_size > 1000
    assert compare.main([str(tmp_path / "missing"), "--out", str(tmp_path / "cmp2")]) == 1
    assert "holds no finished run" in capsys.readouterr().err


def test_batch_norm_run_keeps_running_statistics_and_evaluates_with_them(tmp_path):
    workdir = tmp_path / "batch-norm"
    result = run_qtips(TINY.replace(epochs=1, norm="batch"), workdir, progress=False)
    run = load_run(workdir)
    metrics, model = run.metrics, run.model
    statistics = nnx.state(model, nnx.BatchStat)
    means = [leaf for path, leaf in nnx.to_flat_state(statistics) if "running_mean" in str(path[-1])]
    assert means and all(float(np.max(np.abs(m))) > 0 for m in means)  # trained away from zero
    assert tree_allclose(statistics, nnx.state(result.model, nnx.BatchStat), rtol=0, atol=0)
    # loaded in evaluation mode: each image's prediction is independent of its batch
    images = np.asarray(np.random.default_rng(0).standard_normal((2, 16, 16, 1)), np.float32)
    assert tree_allclose(model(images)[:1], model(images[:1]), rtol=1e-5, atol=1e-5)
    assert metrics["norm"] == "batch"


def test_a_zero_boundary_network_trains_through_the_engine(tmp_path):
    config = TINY.replace(boundary="zero", epochs=1, num_train=8, num_val=8)
    result = run_qtips(config, tmp_path / "zero", progress=False)
    assert np.isfinite(result.metrics["val_loss"])
    assert load_run(tmp_path / "zero").config.boundary == "zero"


@pytest.mark.parametrize("integrator", INTEGRATORS)
def test_batch_norm_is_accepted_with_every_integrator_by_config_and_network(integrator):
    # batch norm keeps running statistics per stage, so multi-stage integrators take it too
    TINY.replace(integrator=integrator, norm="batch")
    TimeSteppingNet([(2, 4)], in_channels=1, num_outputs=2, integrator=integrator, norm="batch", rngs=nnx.Rngs(0))


def test_batch_norm_of_a_one_stage_network_evaluates_as_it_trains():
    """Once the running statistics have settled on one batch, evaluation reproduces training's output on it."""
    images = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
    net = TimeSteppingNet([(3, 4)], in_channels=1, num_outputs=2, integrator="imex", norm="batch", rngs=nnx.Rngs(0))
    call = nnx.jit(lambda net, x: net(x))  # updates the running statistics in place, as eager calls do
    for _ in range(150):
        trained = call(net, images)
    net.eval()
    assert jnp.allclose(call(net, images), trained, atol=1e-4 * float(jnp.abs(trained).max()))
