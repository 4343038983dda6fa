"""The benchmark scripts run at tiny sizes and report what benchmarks/README.md quotes (no timings asserted)."""

import json

import pytest
from helpers import load_script

pytestmark = pytest.mark.benchmark

TINY = ["--batch", "2", "--repeats", "5", "--json"]


def load(name: str):
    return load_script(f"benchmarks/{name}.py")


@pytest.mark.parametrize("options", [[], ["--unroll", "0", "--remat"], ["--dtype", "bfloat16"]])
def test_train_step_reports_the_contract_keys(capsys, options):
    result = load("train_step").main(
        ["--integrator", "imex", "--width", "4", "--steps", "2", "--size", "8", *TINY, *options]
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    for key in ("step_ms", "fwd_ms", "compile_s", "peak_bytes", "backend", "device_kind", "jax_version"):
        assert key in result
    assert result["step_ms"] > 0 and result["unroll"] == ("all" if "--unroll" in options else 1)
    # 3 x (opening 1->4 + 2 steps x two 4->4 convs + head 4->4), 2 FLOPs per multiply-add, 2 x 8 x 8 pixels.
    assert result["conv_gflop"] == pytest.approx(3 * 2 * 128 * (9 * 4 + 2 * 2 * 9 * 16 + 16) / 1e9)


def test_train_step_rejects_bad_options(capsys):
    for options, message in (
        (["--unroll", "-1"], "--unroll must be >= 0"),
        (["--repeats", "2"], "--repeats must be >= 5"),
        (["--width", "0"], "--width must be positive"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            load("train_step").main(["--integrator", "imex", *options])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_conv_in_loop_times_both_convolutions_in_both_loops(capsys):
    result = load("conv_in_loop").main(["--steps", "2", "--width", "2", "--size", "8", *TINY])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    for name in ("lax", "imexjax"):
        for loop in ("scan", "unrolled"):
            assert result[f"{name}_{loop}_ms"] > 0 and f"{name}_{loop}_compile_s" in result


def test_sweep_tables_show_the_median_of_repeated_configurations():
    sweep = load("sweep")
    base = {"group": "depth", "script": "train_step.py", "integrator": "imex", "width": 16, "steps": 8, "batch": 8,
            "size": 64, "unroll": 1, "remat": False, "dtype": "float32", "fwd_ms": 1.0, "compile_s": 2.0,
            "temp_bytes": 2**20, "backend": "cpu", "device_kind": "cpu", "jax_version": "x"}  # fmt: skip
    runs = [dict(base, step_ms=t) for t in (300.0, 100.0, 200.0)] + [dict(base, steps=32, step_ms=50.0)]
    rows = sweep.medians(runs)
    assert [(r["steps"], r["step_ms"], r["runs"]) for r in rows] == [(8, 200.0, 3), (32, 50.0, 1)]
    table = sweep.tables([*runs, {"group": "depth", "error": "boom", "cmd": ["python", "train_step.py"]}])
    assert "| 8 | scan | 200 | 2.0 | 1 |" in table and "| 32 | scan | 50 |" in table
    assert "medians over 1/3 run(s)" in table and "- failed: `train_step.py`: boom" in table


def test_sweep_rejects_zero_passes(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        load("sweep").main(["--passes", "0", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "--passes must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_implicit_vs_conv_times_every_operation_and_its_layout_variant_solves_the_same_system(capsys):
    import jax
    import numpy as np

    from imexjax import ConvDiffusion

    module = load("implicit_vs_conv")
    y = jax.random.normal(jax.random.key(1), (2, 8, 6, 3))
    kernel = jax.random.normal(jax.random.key(2), (3, 3, 3))
    np.testing.assert_allclose(
        module.resolve_channels_last(y, kernel), ConvDiffusion(zero_mean=True).resolve(1.0, y, kernel), atol=1e-5
    )
    options = ["--channels", "3", "--batch", "2", "--height", "8", "--width", "6", "--repeats", "2", "--json"]
    result = module.main(options)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    for name in ("resolve", "resolve_channels_last", "resolve_bfloat16", "conv", "depthwise"):
        assert result[f"{name}_fwd_ms"] > 0 and result[f"{name}_fwd_bwd_ms"] > 0


def test_qtips_step_counts_the_flops_of_every_step_and_projects_the_run(capsys):
    import jax

    module = load("qtips_step")
    rolled = module.main(["--config", "tiny", "--unroll", "1", "--repeats", "5", "--peak-tflops", "2", "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == rolled
    for key in ("step_ms", "compile_s", "gflop", "tflop_per_s", "peak_bytes", "backend", "device_kind", "jax_version"):
        assert key in rolled
    assert (rolled["config"], rolled["geometry"], rolled["batch"], rolled["size"]) == ("tiny", [[3, 8]], 8, 64)
    assert rolled["steps_per_epoch"] == 32 // 8 and rolled["epochs"] == 2
    assert rolled["projected_run_s"] == pytest.approx(2 * 4 * rolled["step_ms"] / 1e3)
    assert rolled["tflop_per_s"] == pytest.approx(rolled["gflop"] / rolled["step_ms"])
    assert rolled["fraction_of_peak"] == pytest.approx(rolled["tflop_per_s"] / 2)
    # XLA counts a rolled loop body once, and rematerialization adds the forward pass again: the
    # count is the network's, whatever the loop settings.
    unrolled = module.main(["--config", "tiny", "--unroll", "2", "--remat", "on", "--repeats", "5"])
    assert unrolled["gflop"] == pytest.approx(rolled["gflop"], rel=1e-3)
    assert (unrolled["unroll"], unrolled["remat"], rolled["remat"]) == (2, True, jax.default_backend() == "cpu")
    assert "GFLOP" in capsys.readouterr().out


def test_qtips_step_rejects_bad_options(capsys):
    module = load("qtips_step")
    for options, message in (
        (["--unroll", "0"], "--unroll must be >= 1"),
        (["--peak-tflops", "0"], "--peak-tflops must be positive"),
        (["--repeats", "4"], "--repeats must be >= 5"),
        (["--config", "huge"], "invalid choice: 'huge'"),
        (["--remat", "yes"], "invalid choice: 'yes'"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            module.main(options)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_sweep_presets_group_times_both_presets_and_shows_the_fraction_of_peak():
    sweep = load("sweep")
    runs = sweep.grid("presets", peak_tflops=495.0)
    assert [(script, opts[1], opts[3]) for _, script, opts in runs] == [
        ("qtips_step.py", config, integrator) for config in ("small", "paper") for integrator in ("euler", "imex")
    ]
    assert all(opts[-2:] == ["--peak-tflops", "495.0"] for _, _, opts in runs)
    row = {"group": "presets", "script": "qtips_step.py", "config": "paper", "integrator": "imex", "dtype": "float32",
           "step_ms": 40.0, "compile_s": 3.0, "gflop": 1000.0, "tflop_per_s": 25.0, "peak_tflops": 50.0,
           "projected_run_s": 600.0, "temp_bytes": 2**30, "backend": "gpu", "device_kind": "H100",
           "jax_version": "x"}  # fmt: skip
    table = sweep.tables([row, dict(row, integrator="euler", peak_tflops=None)])
    assert "| paper | imex | float32 | 40 | 3.0 | 1000.0 | 25 | 50.0% | 10.0 | 1024 |" in table
    assert "| paper | euler | float32 | 40 | 3.0 | 1000.0 | 25 | - | 10.0 | 1024 |" in table


def test_gpu_check_smoke_runs_every_stage_and_writes_what_it_measured(tmp_path, capsys):
    results = load("gpu_check").main(["--smoke", "--out", str(tmp_path), "--budget", "1500"])
    assert json.loads((tmp_path / "results.json").read_text()) == results
    stages = results["stages"]
    assert list(stages) == ["tests", "presets", "torch", "depth", "paper_run"]
    ran = [run for stage in stages.values() for run in stage["runs"]]
    assert ran and all(run["status"] == 0 for run in ran), [run.get("error") for run in ran]
    assert "passed" in stages["tests"]["runs"][0]["summary"]
    assert stages["presets"]["runs"][0]["step_ms"] > 0 and stages["presets"]["runs"][0]["gflop"] > 0
    assert {run["remat"] for run in stages["depth"]["runs"] if "remat" in run} == {False, True}
    assert stages["paper_run"]["runs"][0]["epochs_done"] == 1
    assert stages["paper_run"]["runs"][0]["projected_100_epochs_s"] > 0
    assert (tmp_path / "gpu_check.png").stat().st_size > 1000 and "$ " in (tmp_path / "log.txt").read_text()


def test_gpu_check_skips_with_a_reason_what_the_budget_cannot_hold(tmp_path, capsys):
    results = load("gpu_check").main(["--smoke", "--out", str(tmp_path), "--budget", "11"])
    skipped = [entry for stage in results["stages"].values() for entry in stage["skipped"]]
    assert skipped and all("left in the stage" in entry["reason"] or "torch" in entry["reason"] for entry in skipped)
    assert not any(stage["runs"] for stage in results["stages"].values())
    assert (tmp_path / "results.json").is_file() and (tmp_path / "gpu_check.png").is_file()
