"""Time formulations of the periodic FFT solve `(I + h C^T C)^{-1} b` on CPU against `ConvDiffusion.resolve`.

    python benchmarks/fft_formulations.py --shapes 8x64x64x16 8x64x64x32 1x240x320x32 --repeats 15

Each candidate computes what `imexjax.ConvDiffusion().resolve(h, b, kernel)` computes (periodic
boundary, no zero-mean projection), for `b` of shape (B, H, W, C) and a (k, k, C) kernel:
`IFFT(FFT(b) / (1 + h |c_hat|^2))` channel by channel, `c_hat` the DFT of the kernel embedded in
the H x W grid with its centre at (0, 0). The script checks each against `resolve` first.

- `resolve`: the library's (channels moved in front, rfft2 over (H, W));
- `last`: rfft2 over the (H, W) axes of the channels-last array, no transposes;
- `rfft_h`: channels in front, the real transform along H and the complex one along W;
- `dft_h`: rfft along W, and along H a dense DFT written as real matrix products (XLA's CPU
  matmuls run on both cores, its FFT on one);
- `halves`: the batch split in two independent solves (two FFTs XLA could run side by side);
- `scipy`: `scipy.fft` with `workers=2` through `jax.pure_callback`, its gradient in `b` alone
  (the solve is symmetric: the gradient is the solve of the cotangent); what two threads give.

What is timed, all candidates interleaved in one process: the forward solve, and
`jax.value_and_grad` of `sum(g * solve(b))` in `b` and the kernel (`scipy`: in `b` only; the
kernel gradient reuses the same four transforms in the others).
"""

import argparse
import json
import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.fft
from _timing import interleaved_medians

import imexjax as ix


def embedded(kernel: jax.Array, height: int, width: int) -> jax.Array:
    """The kernel (k, k, C) embedded in an (H, W, C) periodic grid with its centre at (0, 0)."""
    k = kernel.shape[0]
    grid = jnp.zeros((height, width, kernel.shape[2]), kernel.dtype).at[:k, :k].set(kernel)
    return jnp.roll(grid, (-(k // 2), -(k // 2)), axis=(0, 1))


def solve_last(h: float, b: jax.Array, kernel: jax.Array) -> jax.Array:
    height, width = b.shape[1:3]
    spectrum = jnp.fft.rfftn(embedded(kernel, height, width), axes=(0, 1))
    multiplier = 1.0 / (1.0 + h * (spectrum.real**2 + spectrum.imag**2))
    return jnp.fft.irfftn(jnp.fft.rfftn(b, axes=(1, 2)) * multiplier, s=(height, width), axes=(1, 2))


def solve_rfft_h(h: float, b: jax.Array, kernel: jax.Array) -> jax.Array:
    height, width = b.shape[1:3]
    spectrum = jnp.fft.rfftn(jnp.moveaxis(embedded(kernel, height, width), -1, 0), axes=(2, 1))
    multiplier = 1.0 / (1.0 + h * (spectrum.real**2 + spectrum.imag**2))
    b_hat = jnp.fft.rfftn(jnp.moveaxis(b, -1, 1), axes=(3, 2))
    out = jnp.fft.irfftn(b_hat * multiplier, s=(width, height), axes=(3, 2))
    return jnp.moveaxis(out, 1, -1)


def solve_dft_h(h: float, b: jax.Array, kernel: jax.Array) -> jax.Array:
    height, width = b.shape[1:3]
    angle = 2 * np.pi * np.outer(np.arange(height), np.arange(height)) / height
    cos, sin = jnp.asarray(np.cos(angle), b.dtype), jnp.asarray(np.sin(angle), b.dtype)
    spectrum = jnp.fft.fftn(embedded(kernel, height, width), axes=(0, 1))[:, : width // 2 + 1]
    multiplier = 1.0 / (1.0 + h * (spectrum.real**2 + spectrum.imag**2))
    half = jnp.fft.rfft(b, axis=2)  # (B, H, W//2+1, C)
    re, im = half.real, half.imag
    # forward DFT along H: X_u = sum_h (cos - i sin)[u, h] x_h
    f_re = jnp.einsum("uh,bhvc->buvc", cos, re) + jnp.einsum("uh,bhvc->buvc", sin, im)
    f_im = jnp.einsum("uh,bhvc->buvc", cos, im) - jnp.einsum("uh,bhvc->buvc", sin, re)
    f_re, f_im = f_re * multiplier, f_im * multiplier
    # inverse DFT along H: x_h = (1/H) sum_u (cos + i sin)[h, u] X_u
    i_re = (jnp.einsum("hu,buvc->bhvc", cos, f_re) - jnp.einsum("hu,buvc->bhvc", sin, f_im)) / height
    i_im = (jnp.einsum("hu,buvc->bhvc", cos, f_im) + jnp.einsum("hu,buvc->bhvc", sin, f_re)) / height
    return jnp.fft.irfft(jax.lax.complex(i_re, i_im), n=width, axis=2)


def solve_halves(h: float, b: jax.Array, kernel: jax.Array) -> jax.Array:
    resolve = ix.ConvDiffusion().resolve
    half = b.shape[0] // 2
    return jnp.concatenate([resolve(h, b[:half], kernel), resolve(h, b[half:], kernel)])


def make_scipy(h: float, kernel: jax.Array, height: int, width: int) -> Callable:
    """The solve for a fixed kernel through `scipy.fft` on two threads, symmetric custom VJP."""
    spectrum = np.fft.rfft2(np.asarray(embedded(kernel, height, width)), axes=(0, 1))
    multiplier = (1.0 / (1.0 + h * np.abs(spectrum) ** 2)).astype(np.complex64)

    def host(b):
        b_hat = scipy.fft.rfft2(np.asarray(b), axes=(1, 2), workers=2)
        return scipy.fft.irfft2(b_hat * multiplier, s=(height, width), axes=(1, 2), workers=2).astype(b.dtype)

    @jax.custom_vjp
    def solve(b):
        return jax.pure_callback(host, jax.ShapeDtypeStruct(b.shape, b.dtype), b)

    solve.defvjp(lambda b: (solve(b), None), lambda _, g: (solve(g),))
    return solve


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["8x64x64x16", "8x64x64x32", "1x240x320x32"])
    parser.add_argument("--h", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (>= 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5")
    result = {k: v for k, v in vars(args).items() if k != "json"}
    result.update(backend=jax.default_backend(), device_kind=jax.devices()[0].device_kind, jax_version=jax.__version__)
    names = ("resolve", "last", "rfft_h", "dft_h", "halves", "scipy")
    for shape_text in args.shapes:
        shape = tuple(int(n) for n in shape_text.split("x"))
        key_b, key_k, key_g = jax.random.split(jax.random.key(0), 3)
        b = jax.random.normal(key_b, shape)
        kernel = jax.random.normal(key_k, (3, 3, shape[-1]))
        g = jax.random.normal(key_g, shape)
        exact = ix.ConvDiffusion().resolve(args.h, b, kernel)
        solves = {
            "resolve": lambda b, k: ix.ConvDiffusion().resolve(args.h, b, k),
            "last": lambda b, k: solve_last(args.h, b, k),
            "rfft_h": lambda b, k: solve_rfft_h(args.h, b, k),
            "dft_h": lambda b, k: solve_dft_h(args.h, b, k),
            "halves": lambda b, k: solve_halves(args.h, b, k),
        }
        scipy_solve = make_scipy(args.h, kernel, *shape[1:3])
        compiled = {}
        for name, solve in solves.items():
            error = float(jnp.max(jnp.abs(solve(b, kernel) - exact)) / jnp.max(jnp.abs(exact)))
            result[f"{shape_text}_{name}_error"] = error
            gradient = jax.jit(
                jax.value_and_grad(lambda b, k, g, solve=solve: jnp.sum(g * solve(b, k)), argnums=(0, 1))
            )
            compiled[(name, "fwd")] = (jax.jit(solve).lower(b, kernel).compile(), (b, kernel))
            compiled[(name, "fwd+bwd")] = (gradient.lower(b, kernel, g).compile(), (b, kernel, g))
        result[f"{shape_text}_scipy_error"] = float(jnp.max(jnp.abs(scipy_solve(b) - exact)) / jnp.max(jnp.abs(exact)))
        scipy_gradient = jax.jit(jax.value_and_grad(lambda b, g, solve=scipy_solve: jnp.sum(g * solve(b))))
        compiled[("scipy", "fwd")] = (jax.jit(scipy_solve).lower(b).compile(), (b,))
        compiled[("scipy", "fwd+bwd")] = (scipy_gradient.lower(b, g).compile(), (b, g))
        for (name, what), seconds in interleaved_medians(compiled, args.repeats).items():
            result[f"{shape_text}_{name}_{what}_ms"] = 1e3 * seconds
    if args.json:
        print(json.dumps(result))
    else:
        for shape_text in args.shapes:
            print(f"{shape_text}: median ms (ratio to resolve), relative error against resolve")
            for name in names:
                cells = []
                for what in ("fwd", "fwd+bwd"):
                    ms = result[f"{shape_text}_{name}_{what}_ms"]
                    cells.append(f"{ms:9.2f} ({ms / result[f'{shape_text}_resolve_{what}_ms']:4.2f})")
                print(
                    f"  {name:8s}"
                    + "".join(f"{c:>18s}" for c in cells)
                    + f"   {result[f'{shape_text}_{name}_error']:.1e}"
                )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
