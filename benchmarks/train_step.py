"""Time one training step of the library's time-stepping segmentation network at a given shape.

    python benchmarks/train_step.py --integrator imex --width 16 --steps 8 --batch 8 --size 64 --json
    python benchmarks/train_step.py --integrator imex --norm instance --imex-form code --no-zero-mean  # the torch twin

The network is `imexjax.models.TimeSteppingNet` built by `imexjax.train.build_model` from a
`TrainConfig` with one block of N + 1 layers at width W (an opening 3x3 convolution from 1
channel, then N integrator steps of Y <- Y - h K^T relu(N(K Y)), for imex each with its
ConvDiffusion solve), a 1x1 head to 4 classes; the step is `imexjax.train.make_train_step`
(cross entropy, one Adam update) on a batch of B images of S x S, as the experiments train.
The defaults are the experiments' (per-pixel norm, the paper form, zero-mean implicit kernels);
`--norm instance --imex-form code --no-zero-mean` is the network `torch_reference.py` writes in
PyTorch. The step time is the median over the timed steps after one warm-up step, each
synchronized with `block_until_ready`.
"""

import argparse
import json
import statistics
import sys

import jax
from _timing import call_seconds, compile_seconds, step_seconds
from flax import nnx

from imexjax.models import IMEX_FORMS, INTEGRATORS, NORM_KINDS
from imexjax.tasks import SegmentationTask
from imexjax.train import TrainConfig, build_model, data_mesh, make_optimizer, make_train_step, replicate, shard_batch


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--integrator", default="imex", choices=tuple(INTEGRATORS))
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument(
        "--unroll", type=int, default=1, help="steps unrolled per scan iteration (default 1, the library's; 0 = all)"
    )
    parser.add_argument(
        "--remat",
        action="store_true",
        help="rematerialize each step in the backward pass (default: off on every backend)",
    )
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--norm", default="channel", choices=NORM_KINDS, help="default channel, the experiments'")
    parser.add_argument("--imex-form", default="paper", choices=IMEX_FORMS, help="default paper, the experiments'")
    parser.add_argument(
        "--zero-mean", action=argparse.BooleanOptionalAction, default=True, help="zero-mean implicit kernels"
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed steps (>= 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5")
    if args.unroll < 0:
        parser.error("--unroll must be >= 0 (0 unrolls every step)")
    for name in ("width", "steps", "batch", "size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be positive")
    return args


def conv_gflop(args: argparse.Namespace) -> float:
    """GFLOP of the convolutions in one training step: 3x those of the forward pass.

    Forward: the opening 3x3 conv (1 -> W), two 3x3 convs (W -> W) per step and the 1x1 head
    (W -> 4), at 2 FLOPs per multiply-add; the backward pass costs twice the forward (input
    and kernel gradients). Normalization, activations and the FFT solves are not counted.
    """
    pixels = args.batch * args.size * args.size
    forward = 2 * pixels * (9 * args.width + args.steps * 2 * 9 * args.width**2 + 4 * args.width)
    return 3 * forward / 1e9


def main(argv=None) -> dict:
    args = parse_args(argv)
    unroll = args.steps + 1 if args.unroll == 0 else args.unroll
    config = TrainConfig(
        name="benchmark",
        geometry=((args.steps + 1, args.width),),
        integrator=args.integrator,
        norm=args.norm,
        imex_form=args.imex_form,
        zero_mean=args.zero_mean,
        unroll=unroll,
        remat=args.remat,
        dtype=args.dtype,
        learning_rate=1e-3,
        schedule="constant",
    )
    model = build_model(config, in_channels=1, num_outputs=4)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    task = SegmentationTask(4)
    optimizer = make_optimizer(config, steps_per_epoch=1)
    mesh = data_mesh()
    train_step = make_train_step(graphdef, optimizer, task, mesh)
    state = replicate(mesh, {"params": params, "rest": rest, "opt_state": optimizer.init(params)})
    key_x, key_y = jax.random.split(jax.random.key(1))
    images = jax.random.normal(key_x, (args.batch, args.size, args.size, 1))
    labels = jax.random.randint(key_y, (args.batch, args.size, args.size), 0, 4)
    images, labels = shard_batch(mesh, (jax.device_get(images), jax.device_get(labels)))

    @jax.jit
    def forward(params, rest, images, labels):
        return task.loss(nnx.merge(graphdef, params, rest)(images), labels)[0]

    compiled, compile_s = compile_seconds(train_step, state, images, labels)
    memory = compiled.memory_analysis()
    times, state, _ = step_seconds(compiled, state, images, labels, repeats=args.repeats)
    if mesh.size == 1:
        forward_times, loss = call_seconds(
            forward, state["params"], state["rest"], images, labels, repeats=args.repeats
        )
    else:  # the plain jit of the forward pass would partition the FFT automatically, which XLA's CPU FFT refuses
        forward_times, loss = [], float("nan")
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    result = {
        **{k: v for k, v in vars(args).items() if k != "json"},
        "unroll": "all" if args.unroll == 0 else unroll,
        "step_ms": 1e3 * statistics.median(times),
        "conv_gflop": conv_gflop(args),
        "conv_gflop_per_s": conv_gflop(args) / statistics.median(times),
        "step_ms_min": 1e3 * min(times),
        "fwd_ms": 1e3 * statistics.median(forward_times) if forward_times else None,
        "devices": mesh.size,
        "compile_s": compile_s,
        "peak_bytes": stats.get("peak_bytes_in_use"),
        "temp_bytes": getattr(memory, "temp_size_in_bytes", None),
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "jax_version": jax.__version__,
        "loss": float(loss),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.integrator} W={args.width} N={args.steps} B={args.batch} S={args.size} unroll={result['unroll']} "
            f"remat={args.remat} {args.dtype} on {mesh.size} device(s): step {result['step_ms']:.1f} ms, "
            f"forward {'-' if result['fwd_ms'] is None else format(result['fwd_ms'], '.1f')} ms, "
            f"compile {compile_s:.2f} s, temp {result['temp_bytes']} B"
        )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
