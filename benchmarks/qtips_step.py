"""Time the training step of a Q-tips preset, count its FLOPs and project the run's training time.

    python benchmarks/qtips_step.py --config paper --integrator imex --json
    python benchmarks/qtips_step.py --config paper --peak-tflops 495 --json   # H100 SXM, TF32 dense

The step is the one `experiments/qtips.py` trains with (`imexjax.train.make_train_step`: the
preset's network, weighted cross entropy, Adam with the preset's schedule) on one batch of
generated Q-tips images. `step_ms` is the median over the timed steps after one warm-up step,
each synchronized with `block_until_ready`.

`gflop` is XLA's count for one step (forward, backward and update). XLA's cost analysis counts
a loop body once, whatever its trip count, so the count comes from the same step with every
loop unrolled and without rematerialization (lowered, not compiled or run): the network's
FLOPs, not the recomputed ones. `projected_run_s` is `epochs x steps per epoch
x step_ms`: training only, without the per-epoch validation and checkpoints that
`experiments/qtips.py` adds, so the measured run is longer.
"""

import argparse
import dataclasses
import json
import statistics
import sys

import jax
from _timing import compile_seconds, step_seconds
from flax import nnx

from imexjax.data.qtips import NUM_CLASSES, generate_qtips
from imexjax.models import DTYPES, INTEGRATORS
from imexjax.recipes import QTIPS_PRESETS, normalize_images, qtips_config
from imexjax.tasks import SegmentationTask, class_weights_from_labels
from imexjax.train import (
    TrainConfig,
    build_model,
    data_mesh,
    make_optimizer,
    make_train_step,
    replicate,
    shard_batch,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="paper", choices=tuple(QTIPS_PRESETS))
    parser.add_argument("--integrator", choices=tuple(INTEGRATORS), help="default: the preset's")
    parser.add_argument("--dtype", choices=DTYPES, help="default: the preset's")
    parser.add_argument("--unroll", type=int, help="steps unrolled per loop iteration (default: the preset's)")
    parser.add_argument(
        "--remat", choices=("on", "off"), help="rematerialize each step in the backward pass (default: the library's)"
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed steps (>= 5)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s, to report the fraction reached")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5")
    if args.unroll is not None and args.unroll < 1:
        parser.error("--unroll must be >= 1")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        parser.error("--peak-tflops must be positive")
    return args


def benchmark_config(args: argparse.Namespace) -> TrainConfig:
    """The preset `args.config` with the command line's integrator, dtype and loop settings."""
    remat = None if args.remat is None else args.remat == "on"
    return qtips_config(args.config).replace(
        integrator=args.integrator, dtype=args.dtype, unroll=args.unroll, remat=remat
    )


def _step_and_state(config: TrainConfig, steps_per_epoch: int, task: SegmentationTask, mesh):
    """The jitted training step of `config`, its initial state replicated over `mesh`, and its remat."""
    model = build_model(config, in_channels=1, num_outputs=NUM_CLASSES)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    optimizer = make_optimizer(config, steps_per_epoch)
    state = replicate(mesh, {"params": params, "rest": rest, "opt_state": optimizer.init(params)})
    return make_train_step(graphdef, optimizer, task, mesh), state, model.blocks[0].remat


def main(argv=None) -> dict:
    args = parse_args(argv)
    config = benchmark_config(args)
    images, labels = generate_qtips(config.batch_size, seed=config.seed)
    task = SegmentationTask(
        NUM_CLASSES, class_weights_from_labels(labels, NUM_CLASSES) if config.class_weighted else None
    )
    mesh = data_mesh()
    steps_per_epoch = config.num_train // config.batch_size  # run_qtips drops the partial last batch
    inputs, targets = shard_batch(mesh, (normalize_images(images, images.mean(), images.std()), labels.astype("int32")))

    unrolled_step, unrolled_state, _ = _step_and_state(
        dataclasses.replace(config, unroll=max(steps for steps, _ in config.geometry), remat=False),
        steps_per_epoch,
        task,
        mesh,
    )
    gflop = unrolled_step.lower(unrolled_state, inputs, targets).cost_analysis()["flops"] / 1e9

    train_step, state, remat = _step_and_state(config, steps_per_epoch, task, mesh)
    compiled, compile_s = compile_seconds(train_step, state, inputs, targets)
    memory = compiled.memory_analysis()
    times, _, sums = step_seconds(compiled, state, inputs, targets, repeats=args.repeats)
    step_s = statistics.median(times)
    device = jax.devices()[0]
    result = {
        "config": config.name,
        "integrator": config.integrator,
        "dtype": config.dtype,
        "geometry": [list(block) for block in config.geometry],
        "batch": config.batch_size,
        "size": int(images.shape[1]),
        "unroll": config.unroll,
        "remat": remat,
        "repeats": args.repeats,
        "step_ms": 1e3 * step_s,
        "step_ms_min": 1e3 * min(times),
        "compile_s": compile_s,
        "gflop": gflop,
        "tflop_per_s": gflop / 1e3 / step_s,
        "peak_tflops": args.peak_tflops,
        "fraction_of_peak": None if args.peak_tflops is None else gflop / 1e3 / step_s / args.peak_tflops,
        "steps_per_epoch": steps_per_epoch,
        "epochs": config.epochs,
        "projected_run_s": config.epochs * steps_per_epoch * step_s,
        "peak_bytes": (device.memory_stats() or {}).get("peak_bytes_in_use"),
        "temp_bytes": getattr(memory, "temp_size_in_bytes", None),
        "loss": float(sums["loss"] / sums["count"]),
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "jax_version": jax.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{config.name} {config.integrator} {config.dtype} unroll={result['unroll']} remat={remat}: "
            f"step {result['step_ms']:.1f} ms, {gflop:.1f} GFLOP ({result['tflop_per_s']:.3f} TFLOP/s), "
            f"compile {compile_s:.1f} s, {config.epochs} epochs x {steps_per_epoch} steps ~ "
            f"{result['projected_run_s'] / 60:.1f} min of training"
        )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
