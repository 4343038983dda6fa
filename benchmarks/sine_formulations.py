"""Time formulations of the sine-transform solve (zero boundary) against the periodic rfft2 solve.

    python benchmarks/sine_formulations.py --shapes 8x64x64x16 8x128x128x16 1x256x256x16 1x480x640x32

Each candidate computes `S (m * (S b))` for `b` of shape (B, H, W, C), S the orthonormal DST-I
over (H, W) and `m` a fixed (H, W, C) multiplier, what `ConvDiffusion(boundary="zero",
symmetric=True).resolve` computes with `m = 1 / (1 + h lambda^2)`; they are checked against
each other first. The reference is the periodic solve's transform pair with a multiplier:

- `periodic`: rfft2/irfft2 over (H, W) with the channels moved in front (`ConvDiffusion().resolve`'s
  transforms);
- `products`: the library's `imexjax._sine.dst_grid`, two dense matrix products per transform;
- `odd_extension`: along each axis, an rfft of the odd extension `[0, x, 0, -reversed(x)]` of
  length 2 (n + 1), whose imaginary part is the DST-I;
- `odd_extension_2d`: one rfft2 of the odd extension in both axes.

The forward calls of all candidates are timed interleaved in one process (medians of
`--repeats`), with the ratio to `periodic`.
"""

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
from _timing import interleaved_medians

from imexjax._sine import dst_grid


def periodic(y: jax.Array, multiplier: jax.Array) -> jax.Array:
    """The rfft2 pair over (H, W) of `y` (B, H, W, C) with a multiplier on the half spectrum."""
    height, width = y.shape[1:3]
    spectrum = jnp.fft.rfft2(jnp.moveaxis(y, -1, -3))  # (B, C, H, W // 2 + 1)
    half = jnp.moveaxis(multiplier, -1, 0)[:, :, : width // 2 + 1]
    return jnp.moveaxis(jnp.fft.irfft2(spectrum * half, s=(height, width)), -3, -1)


def products(y: jax.Array, multiplier: jax.Array) -> jax.Array:
    return dst_grid(dst_grid(y) * multiplier)


def _odd_extension_axis(x: jax.Array, axis: int) -> jax.Array:
    """The orthonormal DST-I of `x` along `axis`, from an rfft of its odd extension."""
    x = jnp.moveaxis(x, axis, -1)
    n = x.shape[-1]
    zero = jnp.zeros(x.shape[:-1] + (1,), x.dtype)
    spectrum = jnp.fft.rfft(jnp.concatenate([zero, x, zero, -x[..., ::-1]], axis=-1))[..., 1 : n + 1]
    return jnp.moveaxis(-spectrum.imag * np.sqrt(2.0 / (n + 1)) / 2, -1, axis)


def odd_extension(y: jax.Array, multiplier: jax.Array) -> jax.Array:
    def transform(x):
        return _odd_extension_axis(_odd_extension_axis(x, 1), 2)

    return transform(transform(y) * multiplier)


def odd_extension_2d(y: jax.Array, multiplier: jax.Array) -> jax.Array:
    height, width = y.shape[1:3]

    def transform(x):
        rows = jnp.concatenate([jnp.zeros_like(x[:, :1]), x, jnp.zeros_like(x[:, :1]), -x[:, ::-1]], axis=1)
        both = jnp.concatenate(
            [jnp.zeros_like(rows[:, :, :1]), rows, jnp.zeros_like(rows[:, :, :1]), -rows[:, :, ::-1]], axis=2
        )
        spectrum = jnp.fft.rfft2(both, axes=(1, 2))[:, 1 : height + 1, 1 : width + 1]
        return -spectrum.real * np.sqrt(2.0 / (height + 1)) * np.sqrt(2.0 / (width + 1)) / 4

    return transform(transform(y) * multiplier)


CANDIDATES = {
    "periodic": periodic,
    "products": products,
    "odd_extension": odd_extension,
    "odd_extension_2d": odd_extension_2d,
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["8x64x64x16", "8x128x128x16"], metavar="BxHxWxC")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    print(f"{jax.default_backend()} {jax.devices()[0].device_kind}, jax {jax.__version__}")
    rows = []
    for text in args.shapes:
        shape = tuple(int(part) for part in text.split("x"))
        y = jax.random.normal(jax.random.key(0), shape)
        multiplier = jax.random.uniform(jax.random.key(1), shape[1:]) + 0.5
        compiled = {name: jax.jit(function) for name, function in CANDIDATES.items()}
        reference = compiled["products"](y, multiplier)
        for name in ("odd_extension", "odd_extension_2d"):
            error = float(jnp.max(jnp.abs(compiled[name](y, multiplier) - reference)))
            if error > 1e-4 * float(jnp.max(jnp.abs(reference))):
                raise AssertionError(f"{name} differs from the products by {error:.2e}")
        medians = interleaved_medians({name: (f, (y, multiplier)) for name, f in compiled.items()}, args.repeats)
        print(f"\n{text}: forward ms (ratio to periodic)")
        for name, seconds in medians.items():
            print(f"  {name:18s} {1e3 * seconds:9.2f} ({seconds / medians['periodic']:.2f})")
        rows.append({"shape": text, **{f"{name}_ms": 1e3 * s for name, s in medians.items()}})
    result = {"backend": jax.default_backend(), "jax": jax.__version__, "rows": rows}
    if args.json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
