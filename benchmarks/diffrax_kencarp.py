"""Adaptive KenCarp4 (diffrax) on a diffusion-reaction problem: the FFT stage solve against the dense default.

    python benchmarks/diffrax_kencarp.py                      # the table quoted in README.md
    python benchmarks/diffrax_kencarp.py --fft-sizes 64 --dense-sizes --json

The problem, in float32 on a periodic H x H grid with C channels:

    dy/dt = (y - y^3)  -  C^T C y,   t in [0, 1],

explicit Allen-Cahn reaction plus the implicit `imexjax.diffrax.ConvDiffusionTerm` (a 3x3
depthwise kernel with N(0, 1) entries), solved by `diffrax.KenCarp4` with
`PIDController(rtol, atol=rtol)`. Two root finders for the implicit stages:

- `fft`:   `KenCarp4(root_finder=imexjax.diffrax.FFTNewton())`, one Newton step whose linear
           solve is a division in Fourier space;
- `dense`: `KenCarp4()`, diffrax's default `VeryChord`: the N x N Jacobian (N = H * H * C),
           materialised and LU-factorised once per step, and chord iterations to the
           controller's tolerances. It only fits small N.

Reported per run: compile time, the wall time of a solve after compiling (median of
`--repeats` for `fft`, a single solve for `dense`; synchronised with `block_until_ready`),
accepted and rejected steps, diffrax's result, and the largest difference from the `fft`
solution of the same problem.

Then the gradient table: the time of `jax.grad` of `sum(y(1)^2)` with respect to the kernel
and `y0` (after compiling; median of `--repeats` for the FFT path, one for the dense path)
through the same adaptive KenCarp4 + `FFTNewton`, differentiated (diffrax's default
`RecursiveCheckpointAdjoint`) with two implicit adjoints for the stage solves:

- `fft grad`:   traced inside `with imexjax.diffrax.fft_adjoint():`, whose
                implicit-function-theorem solves are FFT divisions (`imexjax.diffrax.FFTLinearSolver`);
- `dense grad`: traced outside it, optimistix's default: the N x N Jacobian materialised and
                LU-factorised per stage (the only path before the FFT adjoint).
"""

import argparse
import contextlib
import json
import statistics
import sys

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from _timing import call_seconds, compile_seconds

import imexjax.diffrax as ixd


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--fft-sizes", type=int, nargs="*", default=[16, 32, 64, 256])
    parser.add_argument("--dense-sizes", type=int, nargs="*", default=[16, 32])
    parser.add_argument("--rtol", type=float, default=1e-4, help="PIDController rtol = atol")
    parser.add_argument("--tight-rtol", type=float, default=1e-6, help="also run both at this tolerance...")
    parser.add_argument("--tight-size", type=int, default=8, help="...on this grid (0: skip)")
    parser.add_argument("--max-steps", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3, help="timed solves per fft run (dense runs: 1)")
    parser.add_argument(
        "--grad-sizes", type=int, nargs="*", default=[16, 32, 128, 256], help="grids of the gradient table (fft)"
    )
    parser.add_argument(
        "--dense-grad-sizes", type=int, nargs="*", default=[16, 32], help="grids where the dense gradient runs too"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    return parser.parse_args(argv)


def make_problem(size: int, channels: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    kernel = jnp.asarray(rng.standard_normal((3, 3, channels)), jnp.float32)
    y0 = jnp.asarray(rng.standard_normal((size, size, channels)), jnp.float32)
    return kernel, y0


def make_solve(root: str, rtol: float, max_steps: int):
    solver = diffrax.KenCarp4(root_finder=ixd.FFTNewton()) if root == "fft" else diffrax.KenCarp4()

    @jax.jit
    def solve(kernel, y0):
        terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, args: y - y**3), ixd.ConvDiffusionTerm(kernel))
        sol = diffrax.diffeqsolve(
            terms,
            solver,
            0.0,
            1.0,
            None,
            y0,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=rtol),
            max_steps=max_steps,
            throw=False,
        )
        return sol.ys[-1], sol.stats["num_accepted_steps"], sol.stats["num_rejected_steps"], sol.result

    return solve


def run(root: str, size: int, channels: int, rtol: float, max_steps: int, repeats: int) -> dict:
    kernel, y0 = make_problem(size, channels)
    solve = make_solve(root, rtol, max_steps)
    compiled, compile_s = compile_seconds(solve, kernel, y0)
    times, (y1, accepted, rejected, result) = call_seconds(compiled, kernel, y0, repeats=repeats, warm_up=False)
    return dict(
        root=root,
        size=size,
        channels=channels,
        n=size * size * channels,
        rtol=rtol,
        compile_s=round(compile_s, 2),
        solve_s=round(statistics.median(times), 4),
        accepted=int(accepted),
        rejected=int(rejected),
        result="ok" if result == diffrax.RESULTS.successful else str(result).split("<")[-1].rstrip(">"),
        y1=y1,
    )


def time_gradient(adjoint: str, size: int, channels: int, rtol: float, max_steps: int, repeats: int) -> dict:
    """Time of `jax.grad` of `sum(y(1)^2)` w.r.t. (kernel, y0), with the `fft` or `dense` implicit adjoint."""
    kernel, y0 = make_problem(size, channels)
    solver = diffrax.KenCarp4(root_finder=ixd.FFTNewton())

    @jax.jit
    @jax.grad
    def grad(params):
        kernel, y0 = params
        terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, args: y - y**3), ixd.ConvDiffusionTerm(kernel))
        controller = diffrax.PIDController(rtol=rtol, atol=rtol)
        sol = diffrax.diffeqsolve(
            terms, solver, 0.0, 1.0, None, y0, stepsize_controller=controller, max_steps=max_steps
        )
        return jnp.sum(sol.ys[-1] ** 2)

    with ixd.fft_adjoint() if adjoint == "fft" else contextlib.nullcontext():
        compiled, compile_s = compile_seconds(grad, (kernel, y0))  # the adjoint is chosen as it traces
    times, out = call_seconds(compiled, (kernel, y0), repeats=repeats, warm_up=False)
    return dict(
        adjoint=adjoint,
        size=size,
        channels=channels,
        n=size * size * channels,
        grad_compile_s=round(compile_s, 2),
        grad_s=round(statistics.median(times), 4),
        grad=out,
    )


GRAD_HEADER = (
    "| grid        |      N | dense grad s | fft grad s | dense / fft | fft compile s | max grad diff |\n"
    "|-------------|-------:|-------------:|-----------:|------------:|--------------:|--------------:|"
)


def format_grad_row(fft: dict, dense: dict | None) -> str:
    grid = f"{fft['size']}x{fft['size']}x{fft['channels']}"
    dense_s = f"{dense['grad_s']:>12.3f}" if dense else f"{'-':>12}"
    ratio = f"{dense['grad_s'] / fft['grad_s']:>11.0f}" if dense else f"{'-':>11}"
    diff = f"{dense['max_grad_diff']:>13.1e}" if dense else f"{'-':>13}"
    return (
        f"| {grid:<11} | {fft['n']:>6} | {dense_s} | {fft['grad_s']:>10.4f} | {ratio} | "
        f"{fft['grad_compile_s']:>13.2f} | {diff} |"
    )


HEADER = (
    "| root  | grid        |      N | rtol  | compile s | solve s | steps (rejected) | result | diff vs fft |\n"
    "|-------|-------------|-------:|-------|----------:|--------:|-----------------:|--------|------------:|"
)


def format_row(r: dict) -> str:
    grid = f"{r['size']}x{r['size']}x{r['channels']}"
    diff = r["max_diff_vs_fft"] if r["max_diff_vs_fft"] is not None else float("nan")
    return (
        f"| {r['root']:<5} | {grid:<11} | {r['n']:>6} | {r['rtol']:.0e} | {r['compile_s']:>9.2f} | "
        f"{r['solve_s']:>7.3f} | {r['accepted']:>8} ({r['rejected']:>5}) | {r['result']:<6} | {diff:>11.1e} |"
    )


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    plan = [("fft", s, args.rtol) for s in args.fft_sizes] + [("dense", s, args.rtol) for s in args.dense_sizes]
    if args.tight_size:
        plan += [("fft", args.tight_size, args.tight_rtol), ("dense", args.tight_size, args.tight_rtol)]
    print(f"jax {jax.__version__}, diffrax {diffrax.__version__}, {jax.devices()[0].platform}, float32", flush=True)
    if not args.json:
        print(HEADER, flush=True)
    rows, solutions = [], {}
    for root, size, rtol in plan:
        row = run(root, size, args.channels, rtol, args.max_steps, repeats=args.repeats if root == "fft" else 1)
        y1 = row.pop("y1")
        if root == "fft":
            solutions[size, rtol] = y1
        reference = solutions.get((size, rtol))
        row["max_diff_vs_fft"] = None if reference is None else float(jnp.max(jnp.abs(y1 - reference)))
        rows.append(row)
        if not args.json:
            print(format_row(row), flush=True)
    if not args.json and args.grad_sizes:
        print("\ngradient of sum(y(1)^2) w.r.t. (kernel, y0) through adaptive KenCarp4 + FFTNewton:")
        print(GRAD_HEADER, flush=True)
    grads = []
    for size in args.grad_sizes:
        fft = time_gradient("fft", size, args.channels, args.rtol, args.max_steps, args.repeats)
        dense = None
        if size in args.dense_grad_sizes:
            dense = time_gradient("dense", size, args.channels, args.rtol, args.max_steps, repeats=1)
            diffs = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), dense.pop("grad"), fft["grad"])
            dense["max_grad_diff"] = max(jax.tree.leaves(diffs))
            grads.append(dense)
        fft.pop("grad")
        grads.append(fft)
        if not args.json:
            print(format_grad_row(fft, dense), flush=True)
    if args.json:
        print(json.dumps(rows + grads, indent=1))
    return rows + grads


if __name__ == "__main__":
    main(sys.argv[1:])
