"""`experiments/stability.py`: trains the tiny IMEX and ResNet models, writes stability.json and figures."""

import json
import pathlib

import numpy as np
import pytest
from helpers import load_script

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLI = ROOT / "experiments" / "stability.py"
FIGURES = ("stability_regions.png", "receptive_field.png", "perturbation_growth.png", "adversarial.png")
CHEAP = ["--epsilons", "0,0.5", "--pgd-steps", "2", "--num-images", "2", "--no-progress"]


def load_cli():
    return load_script("experiments/stability.py")


@pytest.fixture(scope="module")
def tiny_stability(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stability") / "out"
    code = load_cli().main(["--config", "tiny", "--workdir", str(workdir), *CHEAP])
    assert code == 0
    return workdir


def test_tiny_run_writes_the_contract_json_and_four_figures(tiny_stability):
    summary = json.loads((tiny_stability / "stability.json").read_text())
    assert summary["epsilons"] == [0.0, 0.5]
    for name in ("imex", "euler"):
        entry = summary[name]
        assert 0.0 < entry["receptive_field"] <= 1.0
        assert entry["perturbation_growth"] > 0 and entry["jacobian_norm"] > 0
        assert len(entry["growth_by_step"]) == 3  # tiny: one block of 3 layers
        # random perturbations grow at most as much as the Jacobian's largest singular value
        assert entry["perturbation_growth"] <= entry["jacobian_norm"] * 1.01
        adversarial = entry["adversarial"]
        assert adversarial["epsilons"] == [0.0, 0.5] and len(adversarial["fgsm"]) == len(adversarial["pgd"]) == 2
        # epsilon = 0 is the clean validation set: the training run's own IoU
        metrics = json.loads((tiny_stability / name / "metrics.json").read_text())
        assert adversarial["fgsm"][0] == pytest.approx(metrics["val_iou"], abs=1e-3)
        assert adversarial["pgd"][0] == adversarial["fgsm"][0]
        assert entry["params"] == metrics["params"] and metrics["integrator"] == name
    # the implicit step sees the whole image; the 2-step ResNet at most a 11x11 window of 64x64
    assert summary["euler"]["receptive_field"] <= 11 * 11 / 64**2
    assert summary["imex"]["receptive_field"] > summary["euler"]["receptive_field"]
    for figure in FIGURES:
        assert (tiny_stability / figure).stat().st_size > 1000, figure


def test_checkpoints_loads_the_runs_in_order(tiny_stability):
    cli = load_cli()
    runs = cli.loaded_runs([str(tiny_stability / "imex"), str(tiny_stability / "euler")])
    assert [run.config.integrator for run in runs.values()] == ["imex", "euler"]
    images, inputs, labels = cli.validation_set(runs["imex"])
    assert images.shape == (16, 64, 64) and inputs.shape == (16, 64, 64, 1) and labels.shape == (16, 64, 64)
    metrics = runs["imex"].metrics
    assert np.allclose(inputs[..., 0], (images - metrics["input_mean"]) / metrics["input_std"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--checkpoints", "/nonexistent/imex", "/nonexistent/euler"], "/nonexistent/imex"),
        (["--epsilons", "0,-0.1"], "--epsilons must be finite numbers >= 0"),
        (["--epsilons", "0,big"], "--epsilons must be comma-separated numbers"),
        (["--threshold", "1.5"], "--threshold must be in [0, 1)"),
        (["--pgd-steps", "0"], "--pgd-steps must be >= 1"),
        (["--config", "tiny", "--epochs", "0"], "epochs must be a positive integer"),
        (["--config", "huge"], "invalid choice"),
        (["--checkpoints", "a"], "expected 2 arguments"),
        (["--checkpoints", "a", "b", "--config", "tiny"], "drop --config"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(tmp_path, capsys, argv, message):
    workdir = tmp_path / "out"
    code = load_cli().main(["--workdir", str(workdir), *argv])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not workdir.exists()


def test_swapped_checkpoints_are_refused(tiny_stability, capsys):
    code = load_cli().main(
        [
            "--checkpoints",
            str(tiny_stability / "euler"),
            str(tiny_stability / "imex"),
            "--workdir",
            str(tiny_stability / "x"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and "holds a 'euler' run" in err and "\n" not in err


def test_a_missing_workdir_is_a_usage_error(capsys):
    assert load_cli().main(["--config", "tiny"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--workdir" in err and "\n" not in err
