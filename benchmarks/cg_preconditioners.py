"""CG iterations of the zero-boundary solve under each candidate preconditioner, by kernel kind.

    python benchmarks/cg_preconditioners.py                 # grids 16 and 64, stiffness 1e2..1e4, float64
    python benchmarks/cg_preconditioners.py --quick         # one grid, two stiffnesses

Solves `(I + h C^T C) x = b` (zeros beyond the edges, h = 1) with `imexjax._cg.preconditioned_cg`
to a tolerance of 1e-8 in float64 (cap `--max-steps`), for zero-mean random kernels of two
kinds: `general 3x3` and `symmetric 5x5` (symmetric under both flips; not diagonal in the sine
basis, unlike symmetric 3x3 kernels, whose solve is direct). Candidates:

- `sine symbol`: the sine solve with the kernel's symbol `|c_hat|^2` at the DST-I frequencies
  (what `ConvDiffusion(boundary="zero", symmetric=True)` uses);
- `sine symmetric part`: the sine solve of the kernel's symmetric part (general kernels only);
- `periodic`: the periodic rfft2 resolvent of the same kernel (what `symmetric=False` uses);
- `none`: plain CG.

Each kernel is scaled so that `h max|c_hat|^2` on the periodic grid of the same size is the
stiffness; C = 2 channels, one image.
"""

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import imexjax as ix
from imexjax._cg import preconditioned_cg
from imexjax._reflect import symmetric_part
from imexjax._sine import dst_grid, sine_eigenvalues, sine_power
from imexjax._zero_padding import normal_zero
from imexjax.operators import kernel_power


def kernel_of(kind: str, size: int, stiffness: float, rng: np.random.Generator) -> jax.Array:
    """A zero-mean kernel of `kind` scaled to `max|c_hat|^2 = stiffness` on a size x size periodic grid."""
    k = 3 if kind == "general 3x3" else 5
    kernel = jnp.asarray(rng.standard_normal((k, k, 2)))
    if kind == "symmetric 5x5":
        kernel = symmetric_part(kernel)
    kernel = kernel - jnp.mean(kernel, axis=(0, 1))
    return kernel * jnp.sqrt(stiffness / jnp.max(kernel_power(kernel, size, size)))


def preconditioners(kind: str, kernel: jax.Array, size: int) -> dict:
    """name -> the approximate inverse of `I + C^T C`, a function of y (1, H, W, C)."""
    symbol = sine_power(kernel, size, size)
    candidates = {"sine symbol": lambda y: dst_grid(dst_grid(y) / (1 + symbol))}
    if kind == "general 3x3":
        part = sine_eigenvalues(symmetric_part(kernel), size, size) ** 2
        candidates["sine symmetric part"] = lambda y: dst_grid(dst_grid(y) / (1 + part))
    candidates["periodic"] = lambda y: ix.ConvDiffusion().resolve(1.0, y, kernel)
    candidates["none"] = lambda y: y
    return candidates


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one 12x12 grid, stiffness 1e2 and 1e3")
    parser.add_argument("--max-steps", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    with jax.enable_x64(True):
        return count(args)


def count(args: argparse.Namespace) -> dict:
    """The table of `main`, in float64."""
    sizes, stiffnesses = ((12,), (1e2, 1e3)) if args.quick else ((16, 64), (1e2, 1e3, 1e4))
    print(f"{jax.default_backend()}, jax {jax.__version__}; float64, tol 1e-8, cap {args.max_steps}")
    rows = []
    rng = np.random.default_rng(0)
    for kind in ("general 3x3", "symmetric 5x5"):
        for size in sizes:
            for stiffness in stiffnesses:
                kernel = kernel_of(kind, size, stiffness, rng)
                b = jnp.asarray(rng.standard_normal((1, size, size, 2)))
                row = {"kernel": kind, "grid": size, "stiffness": stiffness}
                for name, precondition in preconditioners(kind, kernel, size).items():
                    solve = jax.jit(
                        lambda b, precondition=precondition, kernel=kernel: preconditioned_cg(
                            lambda y: y + normal_zero(y, kernel), b, precondition, tol=1e-8, max_steps=args.max_steps
                        )
                    )
                    row[name] = int(solve(b)[1])
                rows.append(row)
                cells = " ".join(f"{name}={row[name]}" for name in row if name not in ("kernel", "grid", "stiffness"))
                print(f"{kind:14s} {size:4d} {stiffness:8g}  {cells}", flush=True)
    result = {"backend": jax.default_backend(), "jax": jax.__version__, "rows": rows}
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
