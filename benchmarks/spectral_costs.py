"""Time exp/phi1 and each boundary's solve against the periodic resolve and one 3x3 convolution.

    python benchmarks/spectral_costs.py                      # the four shapes below, CPU or GPU
    python benchmarks/spectral_costs.py --quick              # a tiny shape, seconds
    python benchmarks/spectral_costs.py --cg-table           # CG iterations against grid and h max|c_hat|^2

Forward and forward+backward (gradient of sum(out^2) with respect to the state and the kernel)
of: `conv`, a full 3x3 convolution width -> width (`imexjax.models.conv2d`, what an explicit
layer applies twice); `resolve`, `exp`, `phi1`, the periodic ConvDiffusion by rfft2;
`resolve_reflect`, the DCT-II solve; `resolve_zero` and `exp_zero`, the exact zero-boundary
solve and exponential by DST-I (`ConvDiffusion(boundary="zero", symmetric=True)`);
`resolve_zero_cg`, the zero-boundary CG solve of a general kernel, preconditioned by the
periodic one (its backward pass is a second CG solve), at the default float32 tolerance. The
reflect and symmetric zero operations take the kernel's quarter (the parameter a network
stores), expanded by `imexjax.symmetric_kernel`. The implicit kernels are zero-mean 3x3,
symmetric under both flips but for `resolve_zero_cg`'s, scaled so that `h max|c_hat|^2` on a
64x64 grid is `--stiffness` (h = 1); the CG solve's iteration count is printed with each shape.
Shapes (B, H, W, C): 8x128x128x16 (the zero boundary's target: `resolve_zero` at most 3x
`resolve`), 8x64x64x32, 1x240x320x32, 1x480x640x32. Medians over `--repeats` calls after a
warm-up, each synchronized with `block_until_ready`; ratios to `resolve` and to `conv` side by
side.

`--cg-table` counts the CG iterations of the float32 zero solve over grids and `h max|c_hat|^2`
for the kernels that still need CG: `general 3x3` (`ConvDiffusion(boundary="zero")`) and
`symmetric 5x5` (`ConvDiffusion(boundary="zero", symmetric=True)`, sine preconditioner), with
the attained residual relative to `max|b|` (the worst image and channel).
"""

import argparse
import json
import platform
import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from _timing import median_seconds

import imexjax as ix
from imexjax.models import conv2d
from imexjax.operators import kernel_power

SHAPES = ((8, 128, 128, 16), (8, 64, 64, 32), (1, 240, 320, 32), (1, 480, 640, 32))
QUICK_SHAPES = ((1, 16, 16, 4),)
STIFFNESSES = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
CG_SIZES = (16, 64, 256, 512)


def scaled(kernel: jax.Array, stiffness: float) -> jax.Array:
    """`kernel` (k, k, C) made zero-mean per channel and scaled to `max|c_hat|^2 = stiffness` on a 64x64 grid."""
    kernel = kernel - jnp.mean(kernel, axis=(0, 1))
    return kernel * jnp.sqrt(stiffness / jnp.max(kernel_power(kernel, 64, 64)))


def general_kernel(size: int, channels: int, stiffness: float, seed: int = 0) -> jax.Array:
    """A random zero-mean kernel (size, size, C) with `max|c_hat|^2 = stiffness` on a 64x64 grid."""
    return scaled(jax.random.normal(jax.random.key(seed), (size, size, channels)), stiffness)


def symmetric_kernel(size: int, channels: int, stiffness: float, seed: int = 0) -> jax.Array:
    """As `general_kernel`, symmetric under both flips (built by `imexjax.symmetric_kernel`)."""
    half = size // 2 + 1
    return scaled(ix.symmetric_kernel(jax.random.normal(jax.random.key(seed), (half, half, channels))), stiffness)


def implicit_quarter(channels: int, stiffness: float) -> jax.Array:
    """The quarter (2, 2, C) of the symmetric 3x3 kernel `symmetric_kernel(3, channels, stiffness)`."""
    return symmetric_kernel(3, channels, stiffness)[:2, :2]


def operations(stiffness: float) -> dict[str, tuple[Callable, Callable[[int], jax.Array]]]:
    """name -> (function of (y, parameter), parameter of channels C)."""
    periodic = ix.ConvDiffusion()
    reflect = ix.ConvDiffusion(boundary="reflect")
    zero = ix.ConvDiffusion(boundary="zero", symmetric=True)
    zero_cg = ix.ConvDiffusion(boundary="zero")
    return {
        "conv": (conv2d, lambda c: jax.random.normal(jax.random.key(1), (3, 3, c, c)) / (3 * c**0.5)),
        "resolve": (lambda y, k: periodic.resolve(1.0, y, k), lambda c: symmetric_kernel(3, c, stiffness)),
        "exp": (lambda y, k: periodic.exp(1.0, y, k), lambda c: symmetric_kernel(3, c, stiffness)),
        "phi1": (lambda y, k: periodic.phi1(1.0, y, k), lambda c: symmetric_kernel(3, c, stiffness)),
        "resolve_reflect": (
            lambda y, q: reflect.resolve(1.0, y, ix.symmetric_kernel(q)),
            lambda c: implicit_quarter(c, stiffness),
        ),
        "resolve_zero": (
            lambda y, q: zero.resolve(1.0, y, ix.symmetric_kernel(q)),
            lambda c: implicit_quarter(c, stiffness),
        ),
        "exp_zero": (lambda y, q: zero.exp(1.0, y, ix.symmetric_kernel(q)), lambda c: implicit_quarter(c, stiffness)),
        "resolve_zero_cg": (lambda y, k: zero_cg.resolve(1.0, y, k), lambda c: general_kernel(3, c, stiffness)),
    }


def time_shapes(shapes: tuple[tuple[int, ...], ...], stiffness: float, repeats: int) -> list[dict]:
    """Times every operation at each shape (B, H, W, C); prints and returns one row per shape."""
    rows = []
    for shape in shapes:
        y = jax.random.normal(jax.random.key(2), shape)
        row = {"shape": "x".join(map(str, shape))}
        for name, (operation, make_parameter) in operations(stiffness).items():
            parameter = make_parameter(shape[-1])
            forward = jax.jit(operation)
            backward = jax.jit(jax.grad(lambda y, p, op=operation: jnp.sum(op(y, p) ** 2), argnums=(0, 1)))
            row[f"{name}_fwd_ms"] = 1e3 * median_seconds(forward, y, parameter, repeats=repeats)
            row[f"{name}_fwd_bwd_ms"] = 1e3 * median_seconds(backward, y, parameter, repeats=repeats)
        kernel = general_kernel(3, shape[-1], stiffness)
        row["cg_steps"] = int(jax.jit(ix.ConvDiffusion(boundary="zero").cg_steps)(1.0, y, kernel))
        rows.append(row)
        print_row(row)
    return rows


def print_row(row: dict) -> None:
    """Prints one shape's times and their ratios to `resolve` and to `conv`."""
    print(f"\n{row['shape']} (resolve_zero_cg, general 3x3 kernel: {row['cg_steps']} CG iterations)")
    print(f"{'':16s} {'fwd ms':>9s} {'/resolve':>8s} {'/conv':>6s} {'fwd+bwd ms':>11s} {'/resolve':>8s} {'/conv':>6s}")
    for name in operations(1.0):
        forward, both = row[f"{name}_fwd_ms"], row[f"{name}_fwd_bwd_ms"]
        print(
            f"{name:16s} {forward:9.2f} {forward / row['resolve_fwd_ms']:8.2f} {forward / row['conv_fwd_ms']:6.2f} "
            f"{both:11.2f} {both / row['resolve_fwd_bwd_ms']:8.2f} {both / row['conv_fwd_bwd_ms']:6.2f}"
        )


def cg_table(sizes: tuple[int, ...], stiffnesses: tuple[float, ...], channels: int) -> list[dict]:
    """CG iterations and the attained residual of the float32 zero solve, one table per kind of kernel.

    The residual is the largest over images and channels of `max|b - (I + h C^T C) x| / max|b|`,
    the quantity the solve compares with `tol`.
    """
    kinds = {
        "general 3x3": (ix.ConvDiffusion(boundary="zero"), lambda s: general_kernel(3, channels, s)),
        "symmetric 5x5": (
            ix.ConvDiffusion(boundary="zero", symmetric=True),
            lambda s: symmetric_kernel(5, channels, s),
        ),
    }
    rows = []
    for kind, (op, make_kernel) in kinds.items():
        solve = jax.jit(lambda b, k, op=op: (op.resolve(1.0, b, k), op.cg_steps(1.0, b, k)))
        print(f"\nzero-boundary CG iterations, float32, tol={op.tol:g}, C={channels}, h=1, {kind} kernels")
        print(f"{'grid':>9s} " + " ".join(f"{s:>13g}" for s in stiffnesses) + "   (h max|c_hat|^2)")
        for size in sizes:
            b = jax.random.normal(jax.random.key(3), (1, size, size, channels))
            cells = []
            for stiffness in stiffnesses:
                kernel = make_kernel(stiffness)
                x, steps = solve(b, kernel)
                error = jnp.max(jnp.abs(b - x + op.mv(x, kernel)), axis=(-3, -2))
                residual = float(jnp.max(error / jnp.max(jnp.abs(b), axis=(-3, -2))))
                rows.append(
                    {"kernel": kind, "grid": size, "stiffness": stiffness, "steps": int(steps), "residual": residual}
                )
                cells.append(f"{int(steps):4d} ({residual:.0e})")
            print(f"{size:4d}x{size:<4d} " + " ".join(f"{c:>13s}" for c in cells))
    return rows


def main(argv: list[str] | None = None) -> dict:
    """Runs the timings (or, with `--cg-table`, the CG counts) and returns what it printed as a dict."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one tiny shape (1x16x16x4), 2 repeats")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stiffness", type=float, default=10.0, help="h max|c_hat|^2 of the implicit kernels")
    parser.add_argument("--cg-table", action="store_true", help="only count CG iterations over grids and stiffness")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, {jax.default_backend()} "
        f"{jax.devices()[0].device_kind}, jax {jax.__version__}, numpy {np.__version__}"
    )
    result = {"backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind, "jax": jax.__version__}
    if args.cg_table:
        sizes, stiffnesses = ((16, 32), (1.0, 10.0)) if args.quick else (CG_SIZES, STIFFNESSES)
        result["cg"] = cg_table(sizes, stiffnesses, channels=4)
    else:
        shapes, repeats = (QUICK_SHAPES, 2) if args.quick else (SHAPES, args.repeats)
        result["timings"] = time_shapes(shapes, args.stiffness, repeats)
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
