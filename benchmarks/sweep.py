"""Run the benchmark grid behind `benchmarks/README.md` and write its tables and plot.

    python benchmarks/sweep.py --out benchmarks/results            # CPU grid (about 30 min on 2 cores)
    python benchmarks/sweep.py --out benchmarks/results --only ratios --passes 2
    python benchmarks/sweep.py --out gpu --only presets --peak-tflops 495   # H100 SXM, TF32 dense

Each configuration runs `benchmarks/train_step.py --json` (and, where torch is installed,
`benchmarks/torch_reference.py --json`; the `presets` group runs `benchmarks/qtips_step.py`, the
training step of the Q-tips presets) in a fresh process, so compile caches and allocator
state do not carry over. Results are appended to `OUT/results.jsonl` (one line per run), and
`OUT/tables.md` and `OUT/depth.png` (step time and compile time against depth) are rebuilt
from every line of it: a configuration run more than once (more passes, or a later call) is
shown as the median of its runs (the tables' first line says over how many).
"""

import argparse
import importlib.util
import json
import pathlib
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
DEPTHS = (8, 32, 64, 128)
LOOPS = {"scan": ["--unroll", "1"], "scan + remat": ["--unroll", "1", "--remat"], "full unroll": ["--unroll", "0"]}


def run(script: str, options: list[str], repeats: int) -> dict:
    """One benchmark process; its last stdout line is the JSON result."""
    command = [sys.executable, str(HERE / script), *options, "--repeats", str(repeats), "--json"]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr else "failed", "cmd": command}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["script"] = script
    return result


def shape(integrator: str, width: int, steps: int, batch: int = 8, size: int = 64) -> list[str]:
    return ["--integrator", integrator, "--width", str(width), "--steps", str(steps), "--batch", str(batch),
            "--size", str(size)]  # fmt: skip


GROUPS = ("ratios", "depth", "loops", "ops", "presets")
TORCH_TWIN = ["--norm", "instance", "--imex-form", "code", "--no-zero-mean"]
"""`train_step.py` options that build the network `torch_reference.py` writes in PyTorch."""


def grid(only: str | None, peak_tflops: float | None = None) -> list[tuple[str, str, list[str]]]:
    """(group, script, options) for every run."""
    runs = []
    if only in (None, "ratios"):
        for integrator in ("euler", "imex"):
            runs.append(("ratios", "train_step.py", [*shape(integrator, 16, 8), *TORCH_TWIN]))
            runs.append(("ratios", "train_step.py", [*shape(integrator, 32, 8), *TORCH_TWIN]))
            if importlib.util.find_spec("torch") is not None:
                runs.append(("ratios", "torch_reference.py", shape(integrator, 16, 8)))
                runs.append(("ratios", "torch_reference.py", shape(integrator, 32, 8)))
            runs.append(("ratios", "train_step.py", [*shape(integrator, 16, 8), *TORCH_TWIN, "--dtype", "bfloat16"]))
    if only in (None, "depth"):
        for depth in DEPTHS:
            for loop, flags in LOOPS.items():
                if loop == "full unroll" and depth > 64:
                    continue  # compile time alone runs to minutes
                runs.append(("depth", "train_step.py", [*shape("imex", 16, depth), *flags]))
    if only in (None, "loops"):
        for steps in (8, 32):
            options = ["--steps", str(steps), "--width", "16", "--batch", "8", "--size", "64"]
            runs.append(("loops", "conv_in_loop.py", options))
    if only in (None, "ops"):
        for height, width, batch in ((64, 64, 8), (240, 320, 1), (480, 640, 1)):
            options = ["--channels", "32", "--batch", str(batch), "--height", str(height), "--width", str(width)]
            runs.append(("ops", "implicit_vs_conv.py", options))
    if only in (None, "presets"):
        peak = [] if peak_tflops is None else ["--peak-tflops", str(peak_tflops)]
        for config in ("small", "paper"):
            for integrator in ("euler", "imex"):
                runs.append(("presets", "qtips_step.py", ["--config", config, "--integrator", integrator, *peak]))
    return runs


CONFIGURATION_KEYS = ("group", "script", "config", "integrator", "width", "steps", "batch", "size", "unroll", "remat",
                      "dtype", "norm", "imex_form", "channels", "height")  # fmt: skip


def medians(results: list[dict]) -> list[dict]:
    """One row per configuration, in order of first appearance: the median of each timing over its runs.

    Args:
      results: successful runs, as written to results.jsonl.

    Returns:
      The first run of each configuration with every `*_ms`, `*_s`, `*_bytes` and `*_per_s`
      value replaced by the median over the runs of that configuration, and `runs`, their count.
    """
    groups: dict[tuple, list[dict]] = {}
    for result in results:
        groups.setdefault(tuple(str(result.get(key)) for key in CONFIGURATION_KEYS), []).append(result)
    rows = []
    for runs in groups.values():
        row = dict(runs[0], runs=len(runs))
        for key, value in runs[0].items():
            if key.endswith(("_ms", "_s", "_bytes", "_per_s")) and isinstance(value, (int, float)):
                row[key] = statistics.median(r[key] for r in runs if r.get(key) is not None)
        rows.append(row)
    return rows


def loop_name(result: dict) -> str:
    name = {1: "scan", "all": "full unroll"}.get(result.get("unroll"), f"unroll {result.get('unroll')}")
    return name + (" + remat" if result.get("remat") else "")


def tables(results: list[dict]) -> str:
    ok = medians([r for r in results if "error" not in r])
    lines = []
    first = ok[0] if ok else {}
    machine = f"device {first.get('device_kind')}, jax {first.get('jax_version')}"
    counts = "/".join(str(count) for count in sorted({r["runs"] for r in ok}))
    lines.append(f"Backend {first.get('backend')}, {machine}; medians over {counts} run(s) of each.\n")
    ratios = [r for r in ok if r["group"] == "ratios"]
    if ratios:
        lines += ["| integrator | width | dtype | implementation | step (ms) | forward (ms) | compile (s) |",
                  "|---|---:|---|---|---:|---:|---:|"]  # fmt: skip
        for r in ratios:
            impl = "PyTorch" if r["script"] == "torch_reference.py" else "imexjax"
            lines.append(
                f"| {r['integrator']} | {r['width']} | {r.get('dtype', 'float32')} | {impl} | {r['step_ms']:.1f} | "
                f"{r['fwd_ms']:.1f} | {r.get('compile_s') or 0:.2f} |"
            )
        lines.append("")
    depth = [r for r in ok if r["group"] == "depth"]
    if depth:
        lines += ["| steps | loop | step (ms) | compile (s) | XLA temp memory (MiB) |", "|---:|---|---:|---:|---:|"]
        for r in sorted(depth, key=lambda r: (r["steps"], loop_name(r))):
            temp = r.get("temp_bytes")
            memory = f"{temp / 2**20:.0f}" if temp is not None else "-"
            lines.append(f"| {r['steps']} | {loop_name(r)} | {r['step_ms']:.0f} | {r['compile_s']:.1f} | {memory} |")
        lines.append("")
    loops = [r for r in ok if r["group"] == "loops"]
    if loops:
        lines += ["| steps | convolution | scan (ms) | unrolled (ms) | scan compile (s) | unrolled compile (s) |",
                  "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
        for r in loops:
            for name in ("lax", "imexjax"):
                lines.append(
                    f"| {r['steps']} | {name} | {r[f'{name}_scan_ms']:.0f} | {r[f'{name}_unrolled_ms']:.0f} | "
                    f"{r[f'{name}_scan_compile_s']:.2f} | {r[f'{name}_unrolled_compile_s']:.2f} |"
                )
        lines.append("")
    ops = [r for r in ok if r["group"] == "ops"]
    if ops:
        lines += [
            "| batch x H x W x C | resolve fwd | 3x3 conv fwd | depthwise fwd | resolve fwd+bwd | 3x3 conv fwd+bwd "
            "| resolve / conv (fwd+bwd) | resolve, channels-last rfft2 (fwd+bwd) | resolve, bfloat16 state (fwd+bwd) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ops:
            ratio = r["resolve_fwd_bwd_ms"] / r["conv_fwd_bwd_ms"]
            variants = [r.get(f"resolve_{name}_fwd_bwd_ms", float("nan")) for name in ("channels_last", "bfloat16")]
            lines.append(
                f"| {r['batch']} x {r['height']} x {r['width']} x {r['channels']} | {r['resolve_fwd_ms']:.2f} | "
                f"{r['conv_fwd_ms']:.2f} | {r['depthwise_fwd_ms']:.2f} | {r['resolve_fwd_bwd_ms']:.2f} | "
                f"{r['conv_fwd_bwd_ms']:.2f} | {ratio:.2f} | {variants[0]:.2f} | {variants[1]:.2f} |"
            )
        lines.append("")
    presets = [r for r in ok if r["group"] == "presets"]
    if presets:
        lines += ["| config | integrator | dtype | step (ms) | compile (s) | GFLOP per step | TFLOP/s | of peak "
                  "| training, projected (min) | XLA temp memory (MiB) |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in presets:
            peak = f"{r['tflop_per_s'] / r['peak_tflops']:.1%}" if r.get("peak_tflops") else "-"
            temp = r.get("temp_bytes")
            lines.append(
                f"| {r['config']} | {r['integrator']} | {r['dtype']} | {r['step_ms']:.0f} | {r['compile_s']:.1f} | "
                f"{r['gflop']:.1f} | {r['tflop_per_s']:.3g} | {peak} | {r['projected_run_s'] / 60:.1f} | "
                f"{'-' if temp is None else f'{temp / 2**20:.0f}'} |"
            )
        lines.append("")
    failed = [r for r in results if "error" in r]
    for r in failed:
        lines.append(f"- failed: `{' '.join(r['cmd'][1:])}`: {r['error']}")
    return "\n".join(lines) + "\n"


def plot(results: list[dict], path: pathlib.Path) -> None:
    depth = [r for r in medians([r for r in results if "error" not in r]) if r["group"] == "depth"]
    if not depth:
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in sorted({loop_name(r) for r in depth}):
        rows = sorted((r for r in depth if loop_name(r) == name), key=lambda r: r["steps"])
        steps = [r["steps"] for r in rows]
        left.plot(steps, [r["step_ms"] for r in rows], marker="o", label=name)
        right.plot(steps, [r["compile_s"] for r in rows], marker="o", label=name)
    left.set(xlabel="steps (depth)", ylabel="training step (ms)", title="step time, imex, width 16, 8 x 64²")
    right.set(xlabel="steps (depth)", ylabel="compile (s)", title="compile time")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results", help="folder for results.jsonl, tables.md, depth.png")
    parser.add_argument("--only", choices=GROUPS, help="run one group of the grid")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per run (>= 5)")
    parser.add_argument("--passes", type=int, default=1, help="times to run the whole grid, interleaved (>= 1)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s, for the presets' fraction of it")
    args = parser.parse_args(argv)
    if args.passes < 1:
        parser.error("--passes must be >= 1")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        parser.error("--peak-tflops must be positive")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    with open(out / "results.jsonl", "a") as log:
        for group, script, options in grid(args.only, args.peak_tflops) * args.passes:
            result = {"group": group, **run(script, options, args.repeats)}
            print(json.dumps(result), file=log, flush=True)
            timings = {k: round(v, 1) for k, v in result.items() if k.endswith(("_ms", "_s")) and v is not None}
            shown = result.get("error") or ", ".join(f"{k} {v}" for k, v in timings.items())
            print(f"{group:7s} {script:19s} {' '.join(options)}: {shown}", flush=True)
            results.append(result)
    every = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line]
    (out / "tables.md").write_text(tables(every))
    plot(every, out / "depth.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
