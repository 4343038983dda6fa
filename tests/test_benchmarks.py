"""The benchmark scripts run at tiny sizes and report what benchmarks/README.md quotes (no timings asserted)."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
from helpers import load_script

pytestmark = pytest.mark.benchmark

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--batch", "2", "--repeats", "5", "--json"]
HIDE_PACKAGES = """
import importlib.machinery
import sys

HIDDEN = {hidden!r}


class Hidden:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


def installed(*args, _find=importlib.machinery.PathFinder.find_distributions, **kwargs):
    return (d for d in _find(*args, **kwargs) if (d.metadata["Name"] or "").lower().replace("_", "-") not in HIDDEN)


sys.meta_path.insert(0, Hidden())
importlib.machinery.PathFinder.find_distributions = staticmethod(installed)
"""
NO_GRAIN = "the data loader needs the grain package, which is not installed: pip install grain"


def load(name: str):
    return load_script(f"benchmarks/{name}.py")


def without(folder: pathlib.Path, *hidden: str) -> dict[str, str]:
    """An environment in which Python runs as if `hidden` (import or distribution names) were not installed.

    A `sitecustomize.py` in `folder`, first on PYTHONPATH (so every child process inherits it),
    makes importing them raise ModuleNotFoundError and hides them from `importlib.metadata` (so
    pytest loads no plugin of theirs).
    """
    (folder / "sitecustomize.py").write_text(HIDE_PACKAGES.format(hidden=hidden))
    paths = [str(folder), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run_python(arguments: list[str], env: dict[str, str] | None, timeout: float) -> subprocess.CompletedProcess:
    """`python ARGUMENTS` in the repository's root, its output captured."""
    command = [sys.executable, *arguments]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


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


def test_cpu_levers_times_every_lever_on_its_devices_and_tabulates_the_ratios(tmp_path):
    out = tmp_path / "levers"
    argv = ["--widths", "2", "--integrators", "euler,imex", "--levers", "default,two-devices-remat", "--passes", "1"]
    argv += ["--steps", "1", "--batch", "2", "--size", "8", "--repeats", "5", "--no-torch", "--out", str(out)]
    text = load("cpu_levers").main(argv)
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {(r["column"], r["integrator"], r["devices"], r["remat"]) for r in rows} == {
        ("default", "euler", 1, False),
        ("default", "imex", 1, False),
        ("two-devices-remat", "euler", 2, True),
        ("two-devices-remat", "imex", 2, True),
    }
    assert "| 2 | imex | two-devices-remat | " in text and "| 2 | default | " in text  # ratio rows, imex / euler
    assert (out / "levers.md").read_text() == text


def test_cpu_levers_rejects_an_unknown_lever(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        load("cpu_levers").main(["--levers", "default,turbo", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "unknown lever 'turbo'" in capsys.readouterr().err


def test_startup_times_the_compiled_and_the_eager_build(capsys):
    results = load("startup").main(["--presets", "tiny", "--networks", "timestepping", "--json"])
    assert set(results) == {"tiny/timestepping"}
    assert all(seconds > 0 for seconds in results["tiny/timestepping"].values())
    assert "| tiny/timestepping | " in capsys.readouterr().out


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


def test_spectral_costs_times_every_operation_and_tabulates_cg_for_both_kernel_kinds(capsys):
    import jax.numpy as jnp
    import numpy as np

    from imexjax.operators import kernel_power

    module = load("spectral_costs")
    for kernel in (module.general_kernel(3, 4, 10.0), module.symmetric_kernel(5, 4, 10.0)):
        np.testing.assert_allclose(jnp.mean(kernel, axis=(0, 1)), 0.0, atol=1e-6)
        np.testing.assert_allclose(jnp.max(kernel_power(kernel, 64, 64)), 10.0, rtol=1e-5)
    symmetric = module.symmetric_kernel(5, 4, 10.0)
    np.testing.assert_array_equal(symmetric, symmetric[::-1])
    np.testing.assert_array_equal(symmetric, symmetric[:, ::-1])

    result = module.main(["--quick", "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    (row,) = result["timings"]
    for name in ("resolve", "resolve_zero", "exp_zero", "resolve_zero_cg"):
        assert row[f"{name}_fwd_ms"] > 0 and row[f"{name}_fwd_bwd_ms"] > 0
    assert 0 < row["cg_steps"] < 200

    result = module.main(["--cg-table", "--quick", "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert {(r["kernel"], r["grid"], r["stiffness"]) for r in result["cg"]} == {
        (kind, grid, stiffness)
        for kind in ("general 3x3", "symmetric 5x5")
        for grid in (16, 32)
        for stiffness in (1.0, 10.0)
    }
    assert all(0 < r["steps"] < 200 and r["residual"] < 1e-4 for r in result["cg"])


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


@pytest.mark.parametrize(("network", "options"), [("multilevel", []), ("unet", ["--no-flops"])])
def test_qtips_step_times_each_network_kind_at_the_image_size_asked(capsys, network, options):
    result = load("qtips_step").main(
        ["--config", "tiny", "--network", network, "--image-size", "32", "--repeats", "5", "--json", *options]
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    for key in ("params", "epoch_s", "compile_s", "temp_bytes", "peak_bytes", "peak_rss_bytes"):
        assert key in result
    assert (result["config"], result["network"], result["size"], result["batch"]) == ("tiny", network, 32, 8)
    assert result["params"] > 0 and result["peak_rss_bytes"] > 2**20
    # The same images per epoch at every size: the preset's 32 training images in batches of 8.
    assert result["steps_per_epoch"] == 4 and result["epoch_s"] == pytest.approx(4 * result["step_ms"] / 1e3)
    if options:
        assert (result["gflop"], result["tflop_per_s"], result["remat"], result["geometry"]) == (None,) * 4
    else:
        assert result["gflop"] > 0 and result["geometry"] == [[2, 4], [2, 8]]


def test_qtips_step_rejects_bad_options(capsys):
    module = load("qtips_step")
    for options, message in (
        (["--unroll", "0"], "--unroll must be >= 1"),
        (["--peak-tflops", "0"], "--peak-tflops must be positive"),
        (["--repeats", "4"], "--repeats must be >= 5"),
        (["--config", "huge"], "invalid choice: 'huge'"),
        (["--remat", "yes"], "invalid choice: 'yes'"),
        (["--network", "resnet"], "invalid choice: 'resnet'"),
        (["--image-size", "16"], "--image-size must be >= 24"),
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


def test_the_training_engine_imports_without_grain_and_its_loader_says_how_to_install_it(tmp_path):
    code = (
        "import numpy as np\n"
        "from imexjax import UserError\n"
        "from imexjax.train import ArraySource, Loader, TrainConfig, build_model, make_train_step\n"
        "try:\n"
        "    Loader(ArraySource(np.zeros(4), np.zeros(4)), 2, shuffle=False, drop_remainder=False)\n"
        "except UserError as error:\n"
        "    print(error)\n"
    )
    finished = run_python(["-c", code], without(tmp_path, "grain"), timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == NO_GRAIN


def test_gpu_check_smoke_without_grain_or_xdist_runs_every_stage_and_reports_the_failed_one(tmp_path):
    # Where grain is not installed (the GPU machine's image) only the timed Q-tips run, which
    # loads data, can fail: the rest of the check must pass, and the failure must show.
    out = tmp_path / "out"
    hidden = without(tmp_path, "grain", "xdist", "pytest-xdist")
    finished = run_python(["benchmarks/gpu_check.py", "--smoke", "--out", str(out), "--budget", "1500"], hidden, 600)
    assert finished.returncode == 1, finished.stdout + finished.stderr
    results = json.loads((out / "results.json").read_text())
    stages = results["stages"]
    assert list(stages) == ["tests", "presets", "torch", "depth", "paper_run"]
    ran = [run for name, stage in stages.items() if name != "paper_run" for run in stage["runs"]]
    assert ran and all(run["status"] == "passed" for run in ran), [run.get("error") for run in ran]
    assert "passed" in stages["tests"]["runs"][0]["summary"]
    assert stages["presets"]["runs"][0]["step_ms"] > 0 and stages["presets"]["runs"][0]["gflop"] > 0
    assert {run["remat"] for run in stages["depth"]["runs"] if "remat" in run} == {False, True}
    (paper_run,) = stages["paper_run"]["runs"]
    assert (paper_run["status"], paper_run["returncode"], paper_run["error"]) == ("failed", 1, f"error: {NO_GRAIN}")
    counts = results["summary"]
    assert counts == {"passed": len(ran), "failed": 1, "skipped": sum(len(s["skipped"]) for s in stages.values())}
    lines = finished.stdout.strip().splitlines()
    assert re.fullmatch(rf"{sum(counts.values())} commands: {len(ran)} passed, 1 failed, \d+ skipped; .*", lines[-2])
    assert lines[-1] == f"failed: paper_run / {paper_run['label']}: error: {NO_GRAIN}"
    assert (out / "gpu_check.png").stat().st_size > 1000 and "# failed: error: " in (out / "log.txt").read_text()


def test_gpu_check_skips_with_a_reason_what_the_budget_cannot_hold_and_exits_0(tmp_path):
    (tmp_path / "gpu_check.png").write_bytes(b"a figure of an older run")
    finished = run_python(["benchmarks/gpu_check.py", "--smoke", "--out", str(tmp_path), "--budget", "11"], None, 120)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    skipped = [entry for stage in results["stages"].values() for entry in stage["skipped"]]
    assert skipped and all("left in the stage" in entry["reason"] or "torch" in entry["reason"] for entry in skipped)
    assert not any(stage["runs"] for stage in results["stages"].values())
    assert results["summary"] == {"passed": 0, "failed": 0, "skipped": len(skipped)}
    assert finished.stdout.strip().splitlines()[-1].startswith(f"{len(skipped)} commands: 0 passed, 0 failed")
    assert not (tmp_path / "gpu_check.png").exists()  # nothing measured, nothing plotted


def test_gpu_check_keeps_the_epochs_of_a_paper_run_its_stage_cut_short(tmp_path):
    module = load("gpu_check")
    timed_out = {"label": "qtips.py", "status": "failed", "returncode": None, "error": "ran out of its 90 s"}
    assert module.paper_run_result(timed_out, tmp_path) == timed_out  # not one epoch: it failed
    (tmp_path / "paper_run").mkdir()
    history = [{"epoch": e, "epoch_seconds": s, "val_iou": 0.5} for e, s in ((1, 30.0), (2, 10.0), (3, 12.0))]
    (tmp_path / "paper_run" / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    run = module.paper_run_result(timed_out, tmp_path)
    assert (run["status"], run["stopped"], run["epochs_done"]) == ("passed", "ran out of its 90 s", 3)
    assert "error" not in run
    assert run["projected_100_epochs_s"] == pytest.approx(30.0 + 99 * 11.0)
    finished = dict(timed_out, status="passed", returncode=0)
    del finished["error"]
    assert module.paper_run_result(finished, tmp_path)["status"] == "passed"


def test_gpu_check_takes_the_last_error_line_of_a_command(tmp_path):
    module = load("gpu_check")
    traceback = "Traceback (most recent call last):\n  File x\nModuleNotFoundError: No module named 'grain'\n"
    assert module.error_line(traceback + "W0000 a warning\n") == "ModuleNotFoundError: No module named 'grain'"
    pytest_output = "F\nFAILED tests/t.py::test_x - AssertionError: 1 != 2\n1 failed in 2.0s\n"
    assert module.error_line(pytest_output) == "FAILED tests/t.py::test_x - AssertionError: 1 != 2"
    assert module.error_line("just output\n") == "just output" and module.error_line("") == "no output"
    with open(tmp_path / "log.txt", "w") as log:
        no_json = module.run_command("echo", [sys.executable, "-c", "print('done')", "--json"], 60, log)
    assert (no_json["status"], no_json["error"]) == ("failed", "its last line is not a JSON object: done")


def test_sine_formulations_agree_and_time_every_candidate(capsys):
    module = load("sine_formulations")
    y = module.jnp.asarray(module.np.random.default_rng(0).standard_normal((2, 5, 6, 3)), module.jnp.float32)
    multiplier = module.jnp.ones((5, 6, 3))
    for name in ("odd_extension", "odd_extension_2d"):  # the identity: S S y = y
        assert float(module.jnp.max(module.jnp.abs(module.CANDIDATES[name](y, multiplier) - y))) < 1e-5
    result = module.main(["--shapes", "1x6x7x2", "--repeats", "1", "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert set(result["rows"][0]) == {"shape"} | {f"{name}_ms" for name in module.CANDIDATES}


def test_cg_preconditioners_counts_every_candidate_and_leaves_x64_off(capsys):
    import jax

    result = load("cg_preconditioners").main(["--quick", "--json"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert not jax.config.jax_enable_x64
    for row in result["rows"]:
        names = {"sine symbol", "periodic", "none"} | (
            {"sine symmetric part"} if row["kernel"] == "general 3x3" else set()
        )
        assert set(row) == {"kernel", "grid", "stiffness"} | names
        assert all(0 < row[name] < 2000 for name in names)
