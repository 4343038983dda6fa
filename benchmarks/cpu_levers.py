"""The CPU training step under XLA's settings, interleaved, against the PyTorch twin.

    python benchmarks/cpu_levers.py --out benchmarks/results/levers --passes 3
    python benchmarks/cpu_levers.py --widths 16 --integrators imex --levers default,two-devices --passes 1

Each pass runs, for every width and integrator, `train_step.py` in a fresh process once per
lever (its `XLA_FLAGS` added to the environment's) and `torch_reference.py` once (with
`OMP_WAIT_POLICY=PASSIVE`, without which PyTorch's spinning threads make its time depend on
the machine's load), in one interleaved order, so that a drift of the machine's load touches
every column alike. Both time the twin network (`--norm instance --imex-form code
--no-zero-mean`). Writes `results.jsonl` (one line per process) and `levers.md` (medians over
the passes, ratios to the default lever and to PyTorch, the load average before and after).
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent

LEVERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": ("", ()),
    "eigen-convolutions": ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution", ()),
    "two-devices": ("--xla_force_host_platform_device_count=2", ()),
    "two-devices-one-thread": (
        "--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
        (),
    ),
    "two-devices-eigen-convolutions": (
        "--xla_force_host_platform_device_count=2 --xla_cpu_experimental_ynn_fusion_type=-individual_convolution",
        (),
    ),
    "two-devices-remat": ("--xla_force_host_platform_device_count=2", ("--remat",)),
}
"""Settings tried, by name: `(XLA flags, train_step.py flags)`. YNNPACK's convolutions sent back
to Eigen; the two cores as two devices (data parallel, one half-batch each); the same with each
device on one thread; two devices with each step rematerialized in the backward pass (the
networks' default on CPU)."""
DEFAULT_LEVERS = tuple(name for name in LEVERS if name != "two-devices-remat")
TWIN = ["--norm", "instance", "--imex-form", "code", "--no-zero-mean"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="16,32", help="comma-separated widths (default 16,32)")
    parser.add_argument("--integrators", default="euler,imex", help="euler and/or imex (default both)")
    parser.add_argument(
        "--levers",
        default=",".join(DEFAULT_LEVERS),
        help=f"levers tried, of {','.join(LEVERS)} (default all but remat)",
    )
    parser.add_argument("--passes", type=int, default=3, help="interleaved passes (default 3)")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per process (default 10)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("benchmarks/results/levers"))
    args = parser.parse_args(argv)
    args.widths = [int(w) for w in args.widths.split(",")]
    args.integrators = args.integrators.split(",")
    args.levers = args.levers.split(",")
    unknown = [lever for lever in args.levers if lever not in LEVERS]
    if unknown:
        parser.error(f"unknown lever {unknown[0]!r}; choose from {', '.join(LEVERS)}")
    if args.passes < 1:
        parser.error("--passes must be >= 1")
    return args


def run(command: list[str], env: dict[str, str]) -> dict:
    """Runs a benchmark script that prints one JSON object last; returns it."""
    finished = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, check=False)
    if finished.returncode != 0:
        lines = (finished.stderr or finished.stdout).strip().splitlines() or ["no output"]
        raise SystemExit(f"error: {' '.join(command[1:3])} failed: {lines[-1]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def jobs(args: argparse.Namespace) -> list[tuple[str, list[str], dict[str, str]]]:
    """One pass: `(column, command, environment)` for every width, integrator and lever."""
    out = []
    shape = ["--steps", str(args.steps), "--batch", str(args.batch), "--size", str(args.size)]
    shape += ["--repeats", str(args.repeats), "--json"]
    for width in args.widths:
        for integrator in args.integrators:
            common = ["--integrator", integrator, "--width", str(width), *shape]
            for lever in args.levers:
                xla_flags, step_flags = LEVERS[lever]
                flags = " ".join(f for f in (os.environ.get("XLA_FLAGS", ""), xla_flags) if f)
                command = [sys.executable, str(HERE / "train_step.py"), *common, *TWIN, *step_flags]
                out.append((lever, command, {"XLA_FLAGS": flags}))
            if not args.no_torch:
                command = [sys.executable, str(HERE / "torch_reference.py"), *common]
                out.append(("PyTorch", command, {"OMP_WAIT_POLICY": "PASSIVE"}))
    return out


def table(rows: list[dict], levers: list[str], with_torch: bool) -> str:
    """Medians per (width, integrator, column) and the ratios to the default lever and to PyTorch."""
    columns = [*levers, *(["PyTorch"] if with_torch else [])]
    medians: dict[tuple[int, str, str], float] = {}
    for key in {(r["width"], r["integrator"], r["column"]) for r in rows}:
        medians[key] = statistics.median(
            r["step_ms"] for r in rows if (r["width"], r["integrator"], r["column"]) == key
        )
    header = "| width | integrator | " + " | ".join(f"{c} (ms)" for c in columns) + " |"
    lines = [header, "|" + "---|" * 2 + "---:|" * len(columns)]
    for width, integrator in sorted({(w, i) for w, i, _ in medians}):
        cells = [f"{medians[(width, integrator, c)]:.1f}" for c in columns]
        lines.append(f"| {width} | {integrator} | " + " | ".join(cells) + " |")
    lines += ["", "| width | integrator | lever | / default | / PyTorch |", "|---|---|---|---:|---:|"]
    for width, integrator in sorted({(w, i) for w, i, _ in medians}):
        default = medians.get((width, integrator, "default"))
        torch = medians.get((width, integrator, "PyTorch"))
        for lever in levers:
            value = medians[(width, integrator, lever)]
            to_default = f"{value / default:.2f}" if default else "-"
            to_torch = f"{value / torch:.2f}" if torch else "-"
            lines.append(f"| {width} | {integrator} | {lever} | {to_default} | {to_torch} |")
    imex_over_euler = []
    for width in sorted({w for w, _, _ in medians}):
        for column in columns:
            if (width, "imex", column) in medians and (width, "euler", column) in medians:
                ratio = medians[(width, "imex", column)] / medians[(width, "euler", column)]
                imex_over_euler.append(f"| {width} | {column} | {ratio:.2f} |")
    if imex_over_euler:
        lines += ["", "| width | column | imex / euler |", "|---|---|---:|", *imex_over_euler]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    rows = []
    with open(args.out / "results.jsonl", "w") as log:
        for number in range(args.passes):
            for column, command, env in jobs(args):
                result = {**run(command, env), "column": column, "pass": number, "xla_flags": env.get("XLA_FLAGS")}
                rows.append(result)
                log.write(json.dumps(result) + "\n")
                log.flush()
                print(f"pass {number}: {column} {result['integrator']} W={result['width']}: {result['step_ms']:.1f} ms")
    load_after = os.getloadavg()
    text = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; {args.passes} interleaved passes; "
        f"batch {args.batch}, {args.size}x{args.size}, {args.steps} steps; medians of the passes' step medians\n\n"
        + table(rows, args.levers, not args.no_torch)
    )
    (args.out / "levers.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
