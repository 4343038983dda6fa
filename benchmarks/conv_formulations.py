"""Time formulations of the layers' 3x3 'same' convolution on CPU against `imexjax.models.conv2d`.

    python benchmarks/conv_formulations.py --widths 16 32 --batch 8 --size 64 --repeats 15 --json

Candidates (all compute `conv2d(y, kernel)`, NHWC state, HWIO kernel):

- `conv2d`: the library's (`lax.conv_general_dilated`, with its CPU-laid-out derivative);
- `nchw`: `lax.conv_general_dilated` on an NCHW state with an OIHW kernel, JAX's derivative;
- `winograd2`, `winograd4`: Winograd F(2x2, 3x3) and F(4x4, 3x3) (Lavin & Gray 2016): the input
  cut into overlapping (m+2)^2 tiles, transformed by `B^T d B`, one batched matrix product per
  transformed point with `G g G^T`, and `A^T M A` back; their input gradient is the same
  Winograd correlation of the gradient with the flipped, transposed kernel, their kernel
  gradient one batched product over the tiles (`jax.custom_vjp`);
- `shifted`: nine shifted 1x1 products (`sum_ab shift_ab(y) @ K[a, b]`), JAX's derivative.

What is timed, every candidate interleaved in one process (A, B, C, A, B, C, ...) so that the
load of a shared machine falls on all of them alike: the forward pass, the input gradient and
the kernel gradient of one convolution, unrolled; and `jax.value_and_grad` in the kernels of N
steps `Y <- Y - h K_n^T relu(K_n Y)` rolled in `lax.scan` with `jax.checkpoint` per step (the
library's loop on CPU) and fully unrolled. `matmul` times, in the same rounds, the matrix
product of the convolution's size with no data movement, (B H W, 9 C) @ (9 C, C): the rate
XLA's CPU matmul reaches on the same FLOPs. `--errors` prints the error of each candidate
against a float64 `lax.conv_general_dilated`, in float32 and in bfloat16.
"""

import argparse
import json
import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from _timing import interleaved_medians

from imexjax.models import conv2d

# Winograd matrices (Lavin & Gray 2016) for the cross-correlation y_r = sum_a d_{r+a} g_a.
WINOGRAD = {
    2: (
        np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64),
        np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64),
    ),
    4: (
        np.array(
            [
                [4, 0, -5, 0, 1, 0],
                [0, -4, -4, 1, 1, 0],
                [0, 4, -4, -1, 1, 0],
                [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0],
                [0, 4, 0, -5, 0, 1],
            ],
            np.float64,
        ),
        np.array(
            [
                [1 / 4, 0, 0],
                [-1 / 6, -1 / 6, -1 / 6],
                [-1 / 6, 1 / 6, -1 / 6],
                [1 / 24, 1 / 12, 1 / 6],
                [1 / 24, -1 / 12, 1 / 6],
                [0, 0, 1],
            ],
            np.float64,
        ),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float64),
    ),
}


def _combine(matrix: np.ndarray, parts: list[jax.Array]) -> list[jax.Array]:
    """`[sum_j matrix[i, j] parts[j] for i]`, skipping zero coefficients and multiplying by +-1 for free."""
    rows = []
    for row in matrix:
        total = None
        for coefficient, part in zip(row, parts, strict=True):
            if coefficient == 0:
                continue
            term = part if coefficient == 1 else -part if coefficient == -1 else float(coefficient) * part
            total = term if total is None else total + term
        rows.append(total)
    return rows


def winograd_input(y: jax.Array, m: int) -> tuple[jax.Array, tuple[int, int]]:
    """`B^T d B` of every (m+2)^2 tile of the zero-padded state: shape ((m+2)^2, B * T_h * T_w, C)."""
    bt = WINOGRAD[m][0]
    n = m + 2
    batch, height, width, channels = y.shape
    tiles_h, tiles_w = -(-height // m), -(-width // m)
    padded = jnp.pad(y, ((0, 0), (1, m * tiles_h + 1 - height), (1, m * tiles_w + 1 - width), (0, 0)))
    rows = _combine(bt, [jax.lax.slice_in_dim(padded, a, a + m * (tiles_h - 1) + 1, m, axis=1) for a in range(n)])
    parts = []
    for row in rows:
        columns = [jax.lax.slice_in_dim(row, b, b + m * (tiles_w - 1) + 1, m, axis=2) for b in range(n)]
        parts.extend(_combine(bt, columns))
    return jnp.stack(parts).reshape(n * n, batch * tiles_h * tiles_w, channels), (tiles_h, tiles_w)


def winograd_output(product: jax.Array, m: int, batch: int, tiles: tuple[int, int], height: int, width: int):
    """`A^T M A` of each tile, tiles put back in place and cropped: shape (B, H, W, C_out)."""
    at = WINOGRAD[m][2]
    n = m + 2
    product = product.reshape(n, n, batch, *tiles, product.shape[-1])
    rows = _combine(at, [product[i] for i in range(n)])
    out = jnp.stack([jnp.stack(_combine(at, [row[j] for j in range(n)]), axis=3) for row in rows], axis=2)
    return out.reshape(batch, m * tiles[0], m * tiles[1], -1)[:, :height, :width]


def winograd_kernel(kernel: jax.Array, m: int) -> jax.Array:
    """`G g G^T` of each (C_in, C_out) pair: shape ((m+2)^2, C_in, C_out)."""
    g = jnp.asarray(WINOGRAD[m][1], kernel.dtype)
    n = m + 2
    return jnp.einsum("xa,yb,abio->xyio", g, g, kernel).reshape(n * n, *kernel.shape[2:])


def winograd_correlate(y: jax.Array, kernel: jax.Array, m: int) -> jax.Array:
    """The 'same' 3x3 cross-correlation by Winograd F(m x m, 3 x 3)."""
    transformed, tiles = winograd_input(y, m)
    product = jax.lax.dot_general(transformed, winograd_kernel(kernel, m), (((2,), (1,)), ((0,), (0,))))
    return winograd_output(product, m, y.shape[0], tiles, y.shape[1], y.shape[2])


def make_winograd(m: int) -> Callable:
    """Winograd F(m, 3) whose input gradient is itself a Winograd correlation (flipped kernel)."""

    @jax.custom_vjp
    def correlate(y, kernel):
        return winograd_correlate(y, kernel, m)

    def forward(y, kernel):
        return winograd_correlate(y, kernel, m), (y, kernel)

    def backward(residuals, cotangent):
        y, kernel = residuals
        y_bar = winograd_correlate(cotangent, jnp.flip(kernel, (0, 1)).swapaxes(2, 3), m)
        transformed, tiles = winograd_input(y, m)

        def through_kernel(kernel):
            product = jax.lax.dot_general(transformed, winograd_kernel(kernel, m), (((2,), (1,)), ((0,), (0,))))
            return winograd_output(product, m, y.shape[0], tiles, y.shape[1], y.shape[2])

        (kernel_bar,) = jax.vjp(through_kernel, kernel)[1](cotangent)
        return y_bar, kernel_bar

    correlate.defvjp(forward, backward)
    return correlate


def nchw(y: jax.Array, kernel: jax.Array) -> jax.Array:
    """`lax.conv_general_dilated` in NCHW / OIHW, transposed in and out of NHWC."""
    out = jax.lax.conv_general_dilated(
        jnp.transpose(y, (0, 3, 1, 2)), jnp.transpose(kernel, (3, 2, 0, 1)), (1, 1), "SAME"
    )
    return jnp.transpose(out, (0, 2, 3, 1))


def shifted(y: jax.Array, kernel: jax.Array) -> jax.Array:
    """Nine shifted 1x1 products."""
    k = kernel.shape[0]
    height, width = y.shape[1:3]
    padded = jnp.pad(y, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    return sum(padded[:, a : a + height, b : b + width] @ kernel[a, b] for a in range(k) for b in range(k))


CANDIDATES: dict[str, Callable] = {
    "conv2d": conv2d,
    "nchw": nchw,
    "winograd2": make_winograd(2),
    "winograd4": make_winograd(4),
    "shifted": shifted,
}


def reference(y: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The float64 'same' cross-correlation, from its definition in numpy."""
    k = kernel.shape[0]
    height, width = y.shape[1:3]
    padded = np.pad(y.astype(np.float64), ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    return sum(
        padded[:, a : a + height, b : b + width] @ kernel[a, b].astype(np.float64) for a in range(k) for b in range(k)
    )


def errors(width: int, size: int, names: list[str]) -> dict:
    """Max abs error / max |reference| of each candidate's forward, input and kernel gradient, f32 and bf16."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, size, size + 1, width))
    kernel = rng.standard_normal((3, 3, width, width)) / np.sqrt(9 * width)
    g = rng.standard_normal((2, size, size + 1, width))
    exact = {
        "fwd": reference(y, kernel),
        "dy": reference(g, np.flip(kernel, (0, 1)).swapaxes(2, 3)),
    }
    padded = np.pad(y, ((0, 0), (1, 1), (1, 1), (0, 0)))
    window = [[padded[:, a : a + size, b : b + size + 1] for b in range(3)] for a in range(3)]
    exact["dk"] = np.array([[np.einsum("bhwi,bhwo->io", shift, g) for shift in row] for row in window])
    result = {}
    for dtype in (jnp.float32, jnp.bfloat16):
        yy, kk, gg = (jnp.asarray(x, dtype) for x in (y, kernel, g))
        for name in names:
            out, vjp = jax.vjp(jax.jit(CANDIDATES[name]), yy, kk)
            y_bar, k_bar = vjp(gg)
            for what, value in (("fwd", out), ("dy", y_bar), ("dk", k_bar)):
                error = np.max(np.abs(np.asarray(value, np.float64) - exact[what])) / np.max(np.abs(exact[what]))
                result[f"{name}_{jnp.dtype(dtype).name}_{what}"] = float(error)
    return result


def stack_gradient(conv: Callable, unroll: int | bool, remat: bool) -> Callable:
    """Jitted `value_and_grad` in the kernels of N steps `Y <- Y - h K^T relu(K Y)`."""

    def loss(kernels, y):
        def step(state, kernel):
            z = jax.nn.relu(conv(state, kernel))
            return state - 0.1 * conv(z, jnp.flip(kernel, (0, 1)).swapaxes(2, 3)), None

        final, _ = jax.lax.scan(jax.checkpoint(step) if remat else step, y, kernels, unroll=unroll)
        return jnp.mean(final**2)

    return jax.jit(jax.value_and_grad(loss))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8, help="steps of the rolled and unrolled stacks")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (>= 5)")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument(
        "--skip-rolled", nargs="*", default=[], choices=list(CANDIDATES), help="no rolled stack for these"
    )
    parser.add_argument("--errors", action="store_true", help="print errors against a float64 reference instead")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5")
    result = {k: v for k, v in vars(args).items() if k != "json"}
    result.update(backend=jax.default_backend(), device_kind=jax.devices()[0].device_kind, jax_version=jax.__version__)
    if args.errors:
        for width in args.widths:
            result[f"errors_w{width}"] = errors(width, 15, args.candidates)
        print(json.dumps(result) if args.json else json.dumps(result, indent=1))
        return result
    for width in args.widths:
        key_y, key_k, key_g = jax.random.split(jax.random.key(width), 3)
        y = jax.random.normal(key_y, (args.batch, args.size, args.size, width))
        kernel = jax.random.normal(key_k, (3, 3, width, width)) / (3 * width**0.5)
        g = jax.random.normal(key_g, y.shape)
        kernels = jnp.stack([kernel] * args.steps)
        compiled = {}
        for name in args.candidates:
            conv = CANDIDATES[name]
            compiled[(name, "fwd")] = (jax.jit(conv).lower(y, kernel).compile(), (y, kernel))
            dy = jax.jit(lambda y, k, g, conv=conv: jax.vjp(lambda y: conv(y, k), y)[1](g)[0])
            dk = jax.jit(lambda y, k, g, conv=conv: jax.vjp(lambda k: conv(y, k), k)[1](g)[0])
            compiled[(name, "dy")] = (dy.lower(y, kernel, g).compile(), (y, kernel, g))
            compiled[(name, "dk")] = (dk.lower(y, kernel, g).compile(), (y, kernel, g))
            for loop, unroll, remat in (("scan", 1, True), ("unrolled", True, False)):
                if loop == "scan" and name in args.skip_rolled:
                    continue
                function = stack_gradient(conv, unroll, remat)
                compiled[(name, loop)] = (function.lower(kernels, y).compile(), (kernels, y))
        patches = jax.random.normal(key_y, (args.batch * args.size * args.size, 9 * width))
        weights = kernel.reshape(9 * width, width)
        compiled[("matmul", "fwd")] = (jax.jit(jnp.matmul).lower(patches, weights).compile(), (patches, weights))
        for (name, what), seconds in interleaved_medians(compiled, args.repeats).items():
            result[f"w{width}_{name}_{what}_ms"] = 1e3 * seconds
    if args.json:
        print(json.dumps(result))
    else:
        whats = ("fwd", "dy", "dk", "scan", "unrolled")
        for width in args.widths:
            print(f"width {width}: median ms (ratio to conv2d)")
            print(f"{'candidate':10s}" + "".join(f"{w:>18s}" for w in whats))
            for name in args.candidates:
                cells = []
                for what in whats:
                    ms = result.get(f"w{width}_{name}_{what}_ms", float("nan"))
                    cells.append(f"{ms:9.2f} ({ms / result.get(f'w{width}_conv2d_{what}_ms', float('nan')):4.2f})")
                print(f"{name:10s}" + "".join(f"{c:>18s}" for c in cells))
            gflop = 2 * args.batch * args.size**2 * 9 * width**2 / 1e9
            for name in ("conv2d", "matmul"):
                ms = result[f"w{width}_{name}_fwd_ms"]
                print(f"{name} forward: {gflop:.3f} GFLOP in {ms:.2f} ms, {gflop / ms * 1e3:.1f} GFLOP/s")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
