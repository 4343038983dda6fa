"""The benchmark scripts run at tiny sizes and report what benchmarks/README.md quotes (no timings asserted)."""

import importlib.util
import json
import pathlib

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
TINY = ["--batch", "2", "--repeats", "5", "--json"]


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    for options in (["--unroll", "-1"], ["--repeats", "2"], ["--width", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            load("train_step").main(["--integrator", "imex", *options])
        assert exit_info.value.code == 2
    assert "--unroll must be >= 0" in capsys.readouterr().err


def test_conv_in_loop_times_both_convolutions_in_both_loops(capsys):
    result = load("conv_in_loop").main(["--steps", "2", "--width", "2", "--size", "8", *TINY])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    for name in ("lax", "imexjax"):
        for loop in ("scan", "unrolled"):
            assert result[f"{name}_{loop}_ms"] > 0 and f"{name}_{loop}_compile_s" in result
