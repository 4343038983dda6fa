"""One prepared run of everything the CPU cannot tell us, on whatever accelerator JAX sees.

    python benchmarks/gpu_check.py --out gpu-check                 # the GPU machine: under 8 minutes
    python benchmarks/gpu_check.py --smoke --out /tmp/gpu-smoke    # tiny sizes on CPU, in seconds

Stages, in order, each bounded in time (a command that would not fit in what is left of its
stage, or of the whole budget, is skipped with the reason written down):

1. `tests`: the tests that exercise device code (FFT operators against their dense oracles,
   solver orders, `models.conv2d` and its gradient against `lax.conv`, network gradients,
   bfloat16), in one pytest process (without pytest-xdist);
2. `presets`: `qtips_step.py` for the Q-tips presets (paper and small, imex and euler, float32
   and bfloat16, remat on and off): step and compile time, XLA's FLOP count, TFLOP/s, the
   fraction of the H200's dense peak and the projected 100-epoch run;
3. `torch`: `train_step.py` with the PyTorch twin's network beside `torch_reference.py` on the
   same device (where torch is installed), the ratio a user would compare;
4. `depth`: `train_step.py` from 8 to 128 steps, remat on and off (step time, compile time,
   memory), and `implicit_vs_conv.py`: the FFT solve against one 3x3 convolution;
5. `paper_run`: `experiments/qtips.py --config paper --integrator imex --epochs 2`, stopped when
   its stage's time runs out, whose epoch times (the first compiles) project the 100-epoch run
   (stopped after an epoch, it passed; the only stage that needs grain).

Every command runs in a fresh process (JAX preallocates most of the GPU's memory per process;
this script never initializes a device itself). OUT/results.json is rewritten after every
command, so a run cut short keeps what it measured; OUT/log.txt holds each command and the end
of its output and whether it passed; OUT/gpu_check.png plots the presets and the depth sweep
(each panel only where something was measured; no figure when nothing was).

Each command passes (exit status 0 and, for a `--json` script, a JSON last line) or fails (its
last error line is kept), or is skipped. The run ends with one line of counts, e.g.
`8 commands: 6 passed, 1 failed, 1 skipped`, then `failed: STAGE / COMMAND: ERROR LINE` for each
failure, and exits with status 1 when a command failed (0 otherwise, skips included).
"""

import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PEAK_TFLOPS = {"float32": 494.5, "bfloat16": 989.5}
"""NVIDIA H200 SXM dense Tensor Core peaks (TF32, BF16): half the datasheet's with-sparsity figures."""
DEVICE_TESTS = (
    ["tests/test_operators.py", "tests/test_solvers.py", "tests/test_models.py", "tests/test_build.py"],
    "dense or order or conv2d or grad or bfloat16 or compiled_build",
)
SMOKE_TESTS = (["tests/test_operators.py"], "kernel_power")
PYTEST = ["-m", "pytest", "-p", "no:xdist", "-o", "addopts=", "-q", "-x"]
"""pytest in one process, without the project's `addopts` (`-n auto` needs pytest-xdist)."""
ERROR_LINE = re.compile(r"(FAILED |ERROR |error: |[\w.]*(Error|Exception)\b)")
"""The start of a line that reports an error: pytest's summary, a CLI's message, a Python exception."""


def plan(smoke: bool) -> list[tuple[str, float, list[tuple[str, list[str]]]]]:
    """The stages: `(name, share of the budget, [(label, command), ...])`, most telling command first."""
    python = sys.executable
    if smoke:
        presets = [("tiny imex float32", ["--config", "tiny", "--integrator", "imex", "--repeats", "5"])]
        shape = ["--width", "4", "--batch", "2", "--size", "8", "--repeats", "5"]
        depths, ops = (2,), [["--channels", "2", "--batch", "1", "--height", "8", "--width", "8", "--repeats", "3"]]
        run = ["--config", "tiny", "--num-train", "16", "--num-val", "8", "--epochs", "1"]
        tests = SMOKE_TESTS
    else:
        presets = []
        for config in ("paper", "small"):
            for dtype in ("float32", "bfloat16"):
                for remat in ("off", "on"):
                    for integrator in ("imex", "euler"):
                        options = ["--config", config, "--integrator", integrator, "--dtype", dtype, "--remat", remat]
                        peak = ["--peak-tflops", str(PEAK_TFLOPS[dtype])]
                        presets.append((f"{config} {integrator} {dtype} remat {remat}", [*options, *peak]))
        shape = ["--width", "16", "--batch", "8", "--size", "64"]
        depths = (8, 32, 64, 128)
        ops = [
            ["--channels", "32", "--batch", str(b), "--height", str(h), "--width", str(w)]
            for b, h, w in ((8, 64, 64), (1, 240, 320), (1, 480, 640))
        ]
        run = ["--config", "paper", "--epochs", "2"]
        tests = DEVICE_TESTS
    twin = ["--norm", "instance", "--imex-form", "code", "--no-zero-mean"]
    torch_runs = []
    for integrator in ("imex",) if smoke else ("imex", "euler"):
        for width in ("4",) if smoke else ("16", "32"):
            options = [*shape, "--integrator", integrator, "--width", width, "--steps", "2" if smoke else "8"]
            jax_step = [python, str(HERE / "train_step.py"), *options, *twin, "--json"]
            torch_runs.append((f"jax {integrator} w{width}", jax_step))
            torch_runs.append(
                (f"torch {integrator} w{width}", [python, str(HERE / "torch_reference.py"), *options, "--json"])
            )
    depth_runs = [
        (f"steps {steps} remat {'on' if remat else 'off'}",
         [python, str(HERE / "train_step.py"), *shape, "--integrator", "imex", "--steps", str(steps),
          *(["--remat"] if remat else []), "--json"])
        for steps in depths for remat in (False, True)
    ]  # fmt: skip
    depth_runs += [
        (f"solve vs conv {' '.join(o[1::2][:4])}", [python, str(HERE / "implicit_vs_conv.py"), *o, "--json"])
        for o in ops
    ]
    return [
        ("tests", 0.2, [("device tests", [python, *PYTEST, *tests[0], "-k", tests[1]])]),
        ("presets", 0.3, [(label, [python, str(HERE / "qtips_step.py"), *o, "--json"]) for label, o in presets]),
        ("torch", 0.1, torch_runs),
        ("depth", 0.15, depth_runs),
        ("paper_run", 0.25, [("qtips.py " + " ".join(run), [python, str(ROOT / "experiments" / "qtips.py"),
                                                           "--integrator", "imex", *run, "--no-progress"])]),
    ]  # fmt: skip


def environment() -> dict:
    """What JAX (and torch, if installed) see, asked in a child process."""
    code = (
        "import json, jax, flax; d = jax.devices(); "
        "print(json.dumps({'backend': jax.default_backend(), 'devices': len(d), 'device_kind': d[0].device_kind, "
        "'jax': jax.__version__, 'flax': flax.__version__}))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=120)
    info = (
        json.loads(found.stdout.strip().splitlines()[-1]) if found.returncode == 0 else {"error": found.stderr[-500:]}
    )
    return {**info, "python": sys.version.split()[0], "torch": has_module("torch")}


def has_module(name: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True).returncode == 0


def child_env(**extra: str) -> dict:
    """The environment of every command: the repository on the path, unbuffered output."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1", **extra}


def run_command(label: str, command: list[str], timeout: float, log) -> dict:
    """Runs `command` for at most `timeout` seconds and records whether it passed.

    Returns:
      `label`, `status` ("passed" or "failed"), `returncode` (None: it ran out of time) and
      `seconds`; for a passed command, what its last line reported (the JSON of a `--json`
      script, pytest's summary); for a failed one, `error`: the last error line of its output.
    """
    start = time.perf_counter()
    log.write(f"\n$ {' '.join(command)}\n")
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=timeout)
        stdout, stderr, returncode = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as expired:
        stdout, stderr, returncode = _text(expired.stdout), _text(expired.stderr), None
    output = stdout + stderr
    lines = stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    reported, error = {}, None
    if returncode is None:
        error = f"ran out of its {timeout:.0f} s"
    elif returncode != 0:
        error = error_line(output)
    elif "--json" in command:
        reported = _json_object(last) or {}
        error = None if reported else f"its last line is not a JSON object: {last[:200]}"
    else:
        reported = {"summary": last}
    result = {**reported, "label": label, "status": "failed" if error else "passed", "returncode": returncode}
    result["seconds"] = time.perf_counter() - start
    if error:
        result["error"] = error
    log.write(output[-4000:])
    return result


def error_line(output: str) -> str:
    """The last line of `output` that reads as an error (`ERROR_LINE`), or its last line if none does."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_LINE.match(line)]
    return ((errors or lines or ["no output"])[-1])[:300]


def _json_object(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


def paper_run_figures(out: pathlib.Path) -> dict:
    """Epoch times of the timed Q-tips run from its history, and the 100-epoch run they project."""
    history_path = out / "paper_run" / "history.jsonl"
    if not history_path.is_file():
        return {}
    history = [json.loads(line) for line in history_path.read_text().splitlines() if line]
    seconds = [record["epoch_seconds"] for record in history]
    if not seconds:
        return {}
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]  # the first epoch compiles
    return {
        "epochs_done": len(seconds),
        "epoch_seconds": seconds,
        "projected_100_epochs_s": seconds[0] + 99 * steady,
        "val_iou_last": history[-1].get("val_iou"),
    }


def paper_run_result(run: dict, out: pathlib.Path) -> dict:
    """`run` (the timed Q-tips run) with its epoch times; stopped at its stage's end after an epoch, it passed."""
    run = {**run, **paper_run_figures(out)}
    if run["returncode"] is None and run.get("epochs_done"):  # cut as planned: its epochs project the run
        run["status"], run["stopped"] = "passed", run.pop("error")
    return run


def plot(results: dict, path: pathlib.Path) -> bool:
    """The presets' step times and step time against depth, one panel for each that measured something.

    Returns:
      whether the figure was written; with nothing to plot, an older figure at `path` is removed.
    """
    presets = [r for r in results["stages"].get("presets", {}).get("runs", []) if "step_ms" in r]
    depth = [r for r in results["stages"].get("depth", {}).get("runs", []) if "step_ms" in r and "remat" in r]
    panels = [(draw, runs) for draw, runs in ((_presets_panel, presets), (_depth_panel, depth)) if runs]
    if not panels:
        path.unlink(missing_ok=True)
        return False
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6 * len(panels), 4.2))
    for ax, (draw, runs) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        draw(ax, runs)
    fig.suptitle(f"{results['environment'].get('device_kind', '?')}, jax {results['environment'].get('jax', '?')}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def _presets_panel(ax, runs: list[dict]) -> None:
    ax.barh([r["label"] for r in runs], [r["step_ms"] for r in runs], color="#3fa7d6")
    ax.set(xlabel="training step (ms)", title="Q-tips presets (qtips_step.py)")
    ax.tick_params(axis="y", labelsize=7)


def _depth_panel(ax, runs: list[dict]) -> None:
    for remat in ("off", "on"):
        line = [r for r in runs if bool(r["remat"]) == (remat == "on")]
        if line:
            ax.plot([r["steps"] for r in line], [r["step_ms"] for r in line], "-o", label=f"remat {remat}")
    first = runs[0]
    title = f"imex, width {first['width']}, batch {first['batch']}, {first['size']}x{first['size']}"
    ax.set(xlabel="steps", ylabel="training step (ms)", title=title, xscale="log")
    ax.legend()


def failed_runs(results: dict) -> list[tuple[str, dict]]:
    """`(stage, run)` for every command that ran and failed."""
    stages = results["stages"].items()
    return [(name, run) for name, stage in stages for run in stage["runs"] if run["status"] == "failed"]


def summary(results: dict) -> dict:
    """How many commands passed, failed and were skipped."""
    stages = results["stages"].values()
    ran = [run for stage in stages for run in stage["runs"]]
    passed = sum(run["status"] == "passed" for run in ran)
    return {"passed": passed, "failed": len(ran) - passed, "skipped": sum(len(stage["skipped"]) for stage in stages)}


def main(argv: list[str] | None = None) -> dict:
    """Runs the check (see the module's docstring) and prints its summary.

    Returns:
      what OUT/results.json holds.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="gpu-check", help="folder for results.json, log.txt and gpu_check.png")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds on CPU: checks the script itself")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for the whole run (default 450)")
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error("--budget must be positive")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; pass a folder")
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.perf_counter() + args.budget - 10  # keep time to write the figure
    results: dict = {"budget_s": args.budget, "smoke": args.smoke, "environment": environment(), "stages": {}}
    stages = plan(args.smoke)
    with open(out / "log.txt", "w") as log:
        for index, (name, share, commands) in enumerate(stages):
            later = sum(s for _, s, _ in stages[index + 1 :])
            left = deadline - time.perf_counter()
            stage_end = time.perf_counter() + left * share / (share + later) if later else deadline
            stage = results["stages"][name] = {"runs": [], "skipped": []}
            for label, command in commands:
                if name == "paper_run":  # a fresh run: a resumed one would mix old epoch times in
                    shutil.rmtree(out / "paper_run", ignore_errors=True)
                    command = [*command, "--workdir", str(out / "paper_run")]
                available = stage_end - time.perf_counter()
                if "torch_reference.py" in " ".join(command) and not results["environment"]["torch"]:
                    stage["skipped"].append({"label": label, "reason": "torch is not installed"})
                elif available < 5:
                    stage["skipped"].append({"label": label, "reason": f"{max(available, 0):.0f} s left in the stage"})
                else:
                    run = run_command(label, command, available, log)
                    run = paper_run_result(run, out) if name == "paper_run" else run
                    stage["runs"].append(run)
                    log.write(f"\n# {run['status']}" + (f": {run['error']}" if "error" in run else "") + "\n")
                    log.flush()
                (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    results["summary"] = summary(results)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    written = ["results.json", "log.txt", *(["gpu_check.png"] if plot(results, out / "gpu_check.png") else [])]
    counts = results["summary"]
    print(
        f"{sum(counts.values())} commands: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped; {', '.join(written)} in {out}"
    )
    for name, run in failed_runs(results):
        print(f"failed: {name} / {run['label']}: {run['error']}")
    return results


if __name__ == "__main__":
    sys.exit(1 if failed_runs(main(sys.argv[1:])) else 0)
