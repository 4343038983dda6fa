"""Time the gradient of a stack of convolution steps, rolled in `lax.scan` and unrolled.

    python benchmarks/conv_in_loop.py --steps 8 --width 16 --batch 8 --size 64 --json

The stack is N steps of `Y <- Y - h K_n^T relu(K_n Y)` (3x3 kernels, no normalization), and
what is timed is `jax.value_and_grad` of the mean square of the result with respect to the N
kernels, for two convolutions: `lax`, `jax.lax.conv_general_dilated` with JAX's own
derivative, and `imexjax`, `imexjax.models.conv2d`, whose derivative is laid out for XLA's
CPU compiler (see `imexjax/models/_conv.py`). Each runs in a rolled loop (`lax.scan`,
unroll 1) and fully unrolled. Medians over the timed calls after a warm-up, each
synchronized with `block_until_ready`; compile time of `jit(...).lower(...).compile()`.
"""

import argparse
import json
import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp
from _timing import compile_seconds, median_seconds

from imexjax.models import conv2d, conv2d_transpose


def lax_conv2d(y: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(y, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def lax_conv2d_transpose(z: jax.Array, kernel: jax.Array) -> jax.Array:
    return lax_conv2d(z, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))


CONVOLUTIONS: dict[str, tuple[Callable, Callable]] = {
    "lax": (lax_conv2d, lax_conv2d_transpose),
    "imexjax": (conv2d, conv2d_transpose),
}


def loss_and_gradient(convolutions: tuple[Callable, Callable], unroll: int | bool) -> Callable:
    """The jitted `value_and_grad` of the stack's mean square, in the kernels (N, 3, 3, W, W)."""
    conv, conv_transpose = convolutions

    def loss(kernels: jax.Array, y: jax.Array) -> jax.Array:
        def step(state, kernel):
            return state - 0.1 * conv_transpose(jax.nn.relu(conv(state, kernel)), kernel), None

        final, _ = jax.lax.scan(step, y, kernels, unroll=unroll)
        return jnp.mean(final**2)

    return jax.jit(jax.value_and_grad(loss))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls (>= 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5")
    key_k, key_y = jax.random.split(jax.random.key(0))
    kernels = 0.1 * jax.random.normal(key_k, (args.steps, 3, 3, args.width, args.width))
    y = jax.random.normal(key_y, (args.batch, args.size, args.size, args.width))
    result = {k: v for k, v in vars(args).items() if k != "json"}
    for name, convolutions in CONVOLUTIONS.items():
        for loop, unroll in (("scan", 1), ("unrolled", True)):
            compiled, compile_s = compile_seconds(loss_and_gradient(convolutions, unroll), kernels, y)
            result[f"{name}_{loop}_ms"] = 1e3 * median_seconds(compiled, kernels, y, repeats=args.repeats)
            result[f"{name}_{loop}_compile_s"] = compile_s
    result.update(backend=jax.default_backend(), device_kind=jax.devices()[0].device_kind, jax_version=jax.__version__)
    if args.json:
        print(json.dumps(result))
    else:
        for name in CONVOLUTIONS:
            for loop in ("scan", "unrolled"):
                print(
                    f"{name:8s} {loop:9s} {result[f'{name}_{loop}_ms']:8.1f} ms   "
                    f"compile {result[f'{name}_{loop}_compile_s']:5.2f} s"
                )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
