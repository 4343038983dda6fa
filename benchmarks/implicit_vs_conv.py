"""Time the implicit step (I + h C^T C)^{-1} against one 3x3 convolution of the same state.

    python benchmarks/implicit_vs_conv.py --channels 32 --batch 8 --height 64 --width 64 --json

Forward and forward+backward (gradient with respect to the state and the kernel) of:
`resolve`, the ConvDiffusion solve by rfft2; `resolve_channels_last`, the same solve with the
rfft2 taken over axes (H, W) of the channels-last array instead of moving the channels in
front (the layout question); `resolve_bfloat16`, the solve of a bfloat16 state (float32 FFT
inside, cast back); `conv`, a full 3x3 convolution C -> C (what one explicit layer applies
twice); `depthwise`, a 3x3 depthwise convolution (what C itself is).
Medians over the timed calls after a warm-up, each synchronized with `block_until_ready`.
"""

import argparse
import json
import sys

import jax
import jax.numpy as jnp
from _timing import median_seconds

from imexjax import ConvDiffusion
from imexjax.models import conv2d
from imexjax.operators import kernel_spectrum


def resolve_channels_last(y: jax.Array, kernel: jax.Array) -> jax.Array:
    """`ConvDiffusion(zero_mean=True).resolve(1.0, y, kernel)` with rfft2 over axes (1, 2) of (B, H, W, C)."""
    height, width = y.shape[1:3]
    spectrum = kernel_spectrum(kernel - jnp.mean(kernel, axis=(0, 1)), height, width)  # (C, H, W//2+1)
    factor = jnp.moveaxis(1.0 / (1.0 + spectrum.real**2 + spectrum.imag**2), 0, -1)  # (H, W//2+1, C)
    return jnp.fft.irfft2(jnp.fft.rfft2(y, axes=(1, 2)) * factor, s=(height, width), axes=(1, 2))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    keys = jax.random.split(jax.random.key(0), 3)
    y = jax.random.normal(keys[0], (args.batch, args.height, args.width, args.channels))
    implicit_kernel = jax.random.normal(keys[1], (3, 3, args.channels))
    full_kernel = jax.random.normal(keys[2], (3, 3, args.channels, args.channels)) / (3 * args.channels**0.5)
    solver = ConvDiffusion(zero_mean=True)
    operations = {
        "resolve": (lambda y, k: solver.resolve(1.0, y, k), implicit_kernel),
        "resolve_channels_last": (resolve_channels_last, implicit_kernel),
        "resolve_bfloat16": (lambda y, k: solver.resolve(1.0, y.astype(jnp.bfloat16), k), implicit_kernel),
        "conv": (conv2d, full_kernel),
        "depthwise": (
            lambda y, k: jax.lax.conv_general_dilated(
                y, k[:, :, None, :], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                feature_group_count=y.shape[-1],
            ),
            implicit_kernel,
        ),
    }  # fmt: skip
    result = {**{k: v for k, v in vars(args).items() if k != "json"}}
    for name, (operation, kernel) in operations.items():
        forward = jax.jit(operation)
        backward = jax.jit(jax.grad(lambda y, k, op=operation: jnp.sum(op(y, k) ** 2), argnums=(0, 1)))
        result[f"{name}_fwd_ms"] = 1e3 * median_seconds(forward, y, kernel, repeats=args.repeats)
        result[f"{name}_fwd_bwd_ms"] = 1e3 * median_seconds(backward, y, kernel, repeats=args.repeats)
    result.update(backend=jax.default_backend(), device_kind=jax.devices()[0].device_kind, jax_version=jax.__version__)
    if args.json:
        print(json.dumps(result))
    else:
        for name in operations:
            forward, both = result[f"{name}_fwd_ms"], result[f"{name}_fwd_bwd_ms"]
            print(f"{name:21s} forward {forward:8.2f} ms   fwd+bwd {both:8.2f} ms")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
