"""Depth training: the Eigen metrics on hand-made cases, a tiny run per NYU format, resume, CLI errors."""

import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import load_script, snapshot
from test_nyu_data import write_fastdepth_file, write_labeled_mat, write_splits

from imexjax.data.nyu import SyntheticScenes
from imexjax.models import integrator_label
from imexjax.recipes import input_statistics, load_run, normalize_rgb, nyu_config, run_nyu
from imexjax.tasks import DEPTH_METRICS, DepthTask
from imexjax.train import ConfigError, Loader

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLI = ROOT / "experiments" / "nyu_depth.py"
TINY = nyu_config("tiny")
RESOLUTION = (24, 32)


def load_cli():
    return load_script("experiments/nyu_depth.py")


def metrics_of(task: DepthTask, predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The task's metrics of predicted depths against true depths (same shapes, (B, H, W))."""
    outputs = task.outputs_for(jnp.asarray(predicted, jnp.float32))
    sums = jax.device_get(task.eval_sums(outputs, jnp.asarray(truth, jnp.float32)))
    return task.summarize({k: np.asarray(v, np.float64) for k, v in sums.items()})


# Metrics on hand-made cases.


def truth_depths() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.5, 6.0, size=(2, 5, 7)).astype(np.float32)


def test_perfect_prediction_scores_perfectly():
    task = DepthTask(log_depth_mean=1.3)
    truth = truth_depths()
    metrics = metrics_of(task, truth, truth)
    assert list(metrics) == list(DEPTH_METRICS)
    for name in ("loss", "rmse", "abs_rel", "log10"):
        assert metrics[name] == pytest.approx(0.0, abs=1e-6), name
    assert metrics["delta1"] == metrics["delta2"] == metrics["delta3"] == 1.0


@pytest.mark.parametrize("factor", [1.5, 1 / 1.5])
def test_constant_factor_error(factor):
    task = DepthTask()
    truth = truth_depths()
    metrics = metrics_of(task, factor * truth, truth)
    assert metrics["abs_rel"] == pytest.approx(abs(factor - 1), rel=1e-5)
    assert metrics["log10"] == pytest.approx(abs(math.log10(factor)), rel=1e-5)
    assert metrics["loss"] == pytest.approx(abs(math.log(factor)), rel=1e-5)
    rmse = abs(factor - 1) * math.sqrt(np.mean(truth.astype(np.float64) ** 2))
    assert metrics["rmse"] == pytest.approx(rmse, rel=1e-5)
    # 1.25 < 1.5 < 1.25^2: outside delta1, inside delta2 and delta3.
    assert (metrics["delta1"], metrics["delta2"], metrics["delta3"]) == (0.0, 1.0, 1.0)


def test_delta_thresholds_count_pixels():
    task = DepthTask()
    truth = np.full((1, 4, 4), 2.0, np.float32)
    factors = np.array([1.1, 1.4, 1.9, 2.5] * 4, np.float32).reshape(1, 4, 4)  # one per delta band
    metrics = metrics_of(task, factors * truth, truth)
    assert (metrics["delta1"], metrics["delta2"], metrics["delta3"]) == (0.25, 0.5, 0.75)


def test_invalid_pixels_are_ignored_by_metrics_and_loss():
    task = DepthTask(log_depth_mean=0.5)
    truth = truth_depths()
    predicted = 1.5 * truth
    clean = metrics_of(task, predicted, truth)
    holes = truth.copy()
    holes[:, :2] = 0.0  # invalid pixels...
    wild = predicted.copy()
    wild[:, :2] = 1e4  # ...predicted absurdly
    masked = metrics_of(task, wild, holes)
    expected = metrics_of(task, predicted[:, 2:], truth[:, 2:])
    for name in DEPTH_METRICS:
        assert masked[name] == pytest.approx(expected[name], rel=1e-6), name
    assert masked["abs_rel"] == pytest.approx(clean["abs_rel"], rel=1e-5)

    outputs = task.outputs_for(jnp.asarray(wild))
    loss, sums = task.loss(outputs, jnp.asarray(holes))
    assert float(loss) == pytest.approx(math.log(1.5), rel=1e-5)
    assert float(sums["count"]) == truth[:, 2:].size
    grads = jax.grad(lambda o: task.loss(o, jnp.asarray(holes))[0])(outputs)
    assert np.all(np.isfinite(grads)) and np.all(np.asarray(grads)[:, :2] == 0)


def test_metrics_pool_pixels_over_the_whole_split():
    """Sums over batches give the metrics of all valid pixels together, not a mean over batches."""
    task = DepthTask()
    truth = truth_depths()
    truth[1, :4] = 0.0  # the second batch has fewer valid pixels
    predicted = truth * np.array([1.1, 1.5], np.float32)[:, None, None]
    whole = metrics_of(task, predicted, truth)
    sums = [
        jax.device_get(
            task.eval_sums(task.outputs_for(jnp.asarray(predicted[i : i + 1])), jnp.asarray(truth[i : i + 1]))
        )
        for i in range(2)
    ]
    pooled = task.summarize({k: sum(np.asarray(s[k], np.float64) for s in sums) for k in sums[0]})
    for name in DEPTH_METRICS:
        assert pooled[name] == pytest.approx(whole[name], rel=1e-6), name
    valid = truth > 0
    assert pooled["delta1"] == pytest.approx(valid[0].sum() / valid.sum())  # batch 0 is within 1.25, batch 1 not


def test_predictions_are_clipped_to_the_depth_range():
    task = DepthTask(max_depth=10.0)
    truth = np.full((1, 2, 2), 5.0, np.float32)
    assert metrics_of(task, np.full_like(truth, 1e3), truth)["rmse"] == pytest.approx(5.0, rel=1e-5)
    assert math.isnan(task.summarize({"count": np.zeros(())})["rmse"])  # no valid pixel


# Batches.


def test_depth_loader_standardizes_rgb_and_keeps_a_seeded_order():
    source = SyntheticScenes("train", num_frames=10, resolution=(12, 16))
    stats = input_statistics(source)

    def standardize(rgb, depth):
        return normalize_rgb(rgb, stats["rgb_mean"], stats["rgb_std"]), depth

    loader = Loader(source, 4, shuffle=True, drop_remainder=True, transform=standardize)
    assert len(loader) == 2
    epoch = list(loader.epoch(3))
    inputs, depth = epoch[0]
    assert inputs.shape == (4, 12, 16, 3) and inputs.dtype == np.float32 and depth.shape == (4, 12, 16)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(epoch, loader.epoch(3), strict=True))
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(epoch, loader.epoch(4), strict=True))
    in_order = Loader(source, 4, shuffle=False, drop_remainder=False, transform=standardize)
    everything = np.concatenate([x for x, _ in in_order.epoch(0)])
    assert everything.shape[0] == 10
    assert np.allclose(everything.reshape(-1, 3).mean(axis=0), 0, atol=1e-3)
    assert np.allclose(everything.reshape(-1, 3).std(axis=0), 1, atol=1e-3)
    assert stats["log_depth_mean"] == pytest.approx(np.mean([np.log(source[i][1]).mean() for i in range(10)]), rel=1e-6)
    with pytest.raises(ConfigError, match="batch size 11 exceeds the 10 examples"):
        Loader(source, 11, shuffle=True, drop_remainder=True)


# One tiny run per format.


def room_frames(n: int, seed: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Synthetic rooms at 48 x 64 with an invalid (0) band on the left, as NYU's Kinect leaves."""
    source = SyntheticScenes("train", num_frames=n, resolution=(48, 64), seed=seed)
    frames = []
    for i in range(n):
        rgb, depth = source[i]
        depth = depth.copy()
        depth[:, :6] = 0.0
        frames.append((rgb, depth))
    return frames


def check_run(workdir: pathlib.Path, result, *, format: str, num_train: int, num_val: int, epochs: int = 1) -> None:
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics == result.metrics
    for name in DEPTH_METRICS:
        assert math.isfinite(metrics[f"val_{name}"]), name
    assert 0 <= metrics["val_delta1"] <= metrics["val_delta2"] <= metrics["val_delta3"] <= 1
    assert metrics["format"] == format and metrics["resolution"] == list(RESOLUTION)
    assert (metrics["num_train"], metrics["num_val"]) == (num_train, num_val)
    assert metrics["task"] == "depth" and metrics["epochs"] == epochs and metrics["loss_kind"] == "l1_log_depth"
    history = [json.loads(line) for line in (workdir / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == list(range(1, epochs + 1))
    assert {"train_loss", "train_rmse", "val_rmse", "val_delta3"} <= set(history[0])
    for figure in ("predictions.png", "errors.png", "history.png"):
        assert (workdir / figure).stat().st_size > 1000, figure


def test_tiny_run_on_a_labeled_mat_with_splits(tmp_path):
    data = tmp_path / "nyu"
    data.mkdir()
    write_labeled_mat(data / "nyu_depth_v2_labeled.mat", room_frames(12))
    write_splits(data / "splits.mat", train=list(range(1, 9)), test=[9, 10, 11, 12], layout="row")
    result = run_nyu(TINY, tmp_path / "run", data=data, progress=False, figure_frames=1)
    check_run(tmp_path / "run", result, format="labeled_mat", num_train=8, num_val=4)


def test_tiny_run_on_a_fastdepth_tree(tmp_path):
    frames = room_frames(12)
    for i, frame in enumerate(frames[:8]):
        write_fastdepth_file(tmp_path / "nyudepthv2" / "train" / f"scene_{i % 2}" / f"{i:05d}.h5", *frame)
    for i, frame in enumerate(frames[8:]):
        write_fastdepth_file(tmp_path / "nyudepthv2" / "val" / "official" / f"{i:05d}.h5", *frame)
    result = run_nyu(
        TINY.replace(integrator="euler"),
        tmp_path / "run",
        data=tmp_path,
        progress=False,
        figure_frames=1,
    )
    check_run(tmp_path / "run", result, format="fastdepth", num_train=8, num_val=4)


def test_tiny_run_on_tfds_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
        result = run_nyu(TINY, tmp_path / "run", data=tmp_path, format="tfds", progress=False, figure_frames=1)
    check_run(tmp_path / "run", result, format="tfds", num_train=4, num_val=4)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """The tiny config on synthetic rooms, 2 epochs uninterrupted, through the library."""
    workdir = tmp_path_factory.mktemp("synthetic") / "imex"
    return workdir, run_nyu(TINY.replace(epochs=2), workdir, format="synthetic", progress=False, figure_frames=1)


def test_tiny_synthetic_run(synthetic_run):
    workdir, result = synthetic_run
    check_run(workdir, result, format="synthetic", num_train=TINY.num_train, num_val=TINY.num_val, epochs=2)
    assert result.metrics["data"] is None
    assert result.metrics["val_loss"] == min(r["val_loss"] for r in result.history)  # the best checkpoint
    run = load_run(workdir)
    assert integrator_label(run.config.integrator) == "IMEX" and run.metrics == result.metrics
    assert run.config == TINY.replace(epochs=2)


class Interrupted(Exception):
    """Stands for a kill between epochs."""


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(synthetic_run, tmp_path, monkeypatch):
    _, reference = synthetic_run
    workdir = tmp_path / "resumed"
    read_epoch = Loader.epoch

    def interrupted_epoch(self, epoch):
        if self.shuffle and epoch == 2:
            raise Interrupted
        return read_epoch(self, epoch)

    monkeypatch.setattr(Loader, "epoch", interrupted_epoch)
    with pytest.raises(Interrupted):
        run_nyu(TINY.replace(epochs=2), workdir, format="synthetic", progress=False)
    monkeypatch.undo()
    assert (workdir / "checkpoints" / "1").exists() and not (workdir / "metrics.json").exists()
    first = json.loads((workdir / "data.json").read_text())
    resumed = run_nyu(TINY.replace(epochs=2), workdir, format="synthetic", progress=False, figure_frames=1)
    drop = ("epoch_seconds", "images_per_second")
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed.history] == [
        {k: v for k, v in r.items() if k not in drop} for r in reference.history
    ]
    assert json.loads((workdir / "data.json").read_text()) == first
    for name in DEPTH_METRICS:
        assert resumed.metrics[f"val_{name}"] == reference.metrics[f"val_{name}"], name


def test_a_workdir_of_other_data_or_config_is_refused_untouched(synthetic_run):
    workdir, _ = synthetic_run
    before = snapshot(workdir)
    with pytest.raises(ConfigError, match="another configuration .*resolution"):
        run_nyu(TINY.replace(epochs=2, resolution=(32, 32)), workdir, format="synthetic", progress=False)
    with pytest.raises(ConfigError, match="another configuration .*integrator"):
        run_nyu(TINY.replace(epochs=2, integrator="euler"), workdir, format="synthetic", progress=False)
    assert snapshot(workdir) == before


# The CLI.


def test_cli_trains_without_data_for_synthetic_and_compares_runs(synthetic_run, tmp_path, capsys):
    imex_dir, _ = synthetic_run
    cli = load_cli()
    resnet_dir = tmp_path / "resnet"
    argv = ["--integrator", "euler", "--format", "synthetic", "--config", "tiny", "--norm", "batch"]
    assert cli.main([*argv, "--workdir", str(resnet_dir), "--no-progress"]) == 0
    assert "| ResNet |" in capsys.readouterr().out
    assert json.loads((resnet_dir / "config.json").read_text())["norm"] == "batch"
    out = tmp_path / "figures"
    assert cli.main(["--compare", str(imex_dir), str(resnet_dir), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| IMEX |" in table and "| ResNet |" in table
    for name in ("comparison.png", "comparison_errors.png", "comparison_history.png", "comparison.md"):
        assert (out / name).stat().st_size > 300, name


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "/nonexistent/nyu"], "no NYU Depth V2 data at /nonexistent/nyu"),
        ([], "no --data given"),
        (["--data", "CORRUPT"], "is not an HDF5"),
        (["--data", "EMPTY", "--format", "fastdepth"], "EMPTY"),
        (["--format", "synthetic", "--batch-size", "64"], "batch size 64 exceeds the 16 examples"),
        (["--format", "synthetic", "--epochs", "0"], "epochs must be a positive integer"),
    ],
)
def test_cli_bad_data_or_input_is_one_line_nonzero_and_writes_nothing(tmp_path, capsys, argv, message):
    corrupt = tmp_path / "nyu_depth_v2_labeled.mat"
    corrupt.write_text("not HDF5 at all")
    (tmp_path / "empty").mkdir()
    argv = [str(corrupt) if a == "CORRUPT" else str(tmp_path / "empty") if a == "EMPTY" else a for a in argv]
    message = message.replace("EMPTY", str(tmp_path / "empty"))
    workdir = tmp_path / "run"
    code = load_cli().main(["--integrator", "imex", "--config", "tiny", "--workdir", str(workdir), *argv])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err
    if "no NYU" in message or "no --data" in message:
        for needle in ("nyu_depth_v2_labeled.mat", "train/<scene>/*.h5", "nyu_depth_v2/", "--format synthetic"):
            assert needle in err
    assert not workdir.exists()


def test_cli_usage_errors_exit_1(tmp_path, capsys):
    cli = load_cli()
    for argv, message in [
        (["--integrator", "imex", "--resolution", "24by32"], "HEIGHTxWIDTH"),
        (["--format", "synthetic"], "--integrator"),
        (["--compare", str(tmp_path), str(tmp_path)], "--out"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 1 and message in capsys.readouterr().err
    assert cli.main(["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "holds no finished run" in err and "\n" not in err
    assert cli.main(["--integrator", "imex", "--norm", "layer", "--workdir", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --norm: unknown normalization 'layer'") and "\n" not in err


def test_cli_help_says_integrator_is_required(capsys):
    # The help must match the parser: without --integrator (and not --network unet) it refuses.
    with pytest.raises(SystemExit):
        load_cli().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the ResNet. (required, except with --network unet)" in text
