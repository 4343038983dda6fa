"""Time the training step of a Q-tips preset, count its FLOPs and project the run's training time.

    python benchmarks/qtips_step.py --config paper --integrator imex --json
    python benchmarks/qtips_step.py --config paper --peak-tflops 495 --json   # H100 SXM, TF32 dense
    python benchmarks/qtips_step.py --config small --network unet --image-size 128 --json

The cost table (seconds per epoch, compile time and memory of each network kind at each image
size; one step at 512 with `--image-size 512 --repeats 5`)::

    for n in timestepping unet multilevel; do for s in 64 128 256; do
      python benchmarks/qtips_step.py --config small --network $n --image-size $s --no-flops --json
    done; done

The step is the one `experiments/qtips.py` trains with (`imexjax.train.make_train_step`: the
preset's network, weighted cross entropy, Adam with the preset's schedule) on one batch of
generated Q-tips images. `--network` picks the preset of that network kind
(`imexjax.recipes.qtips_config(config, network)`, as `experiments/qtips.py --network` does;
default: the time-stepping network), `--image-size N` generates the batch at N x N (default:
the preset's `image_size`, 64). `step_ms` is the median over the timed steps after one warm-up
step, each synchronized with `block_until_ready`. `params` is the network's parameter count
(`imexjax.models.count_parameters`).

`gflop` is XLA's count for one step (forward, backward and update). XLA's cost analysis counts
a loop body once, whatever its trip count, so the count comes from the same step with every
loop unrolled and without rematerialization (lowered, not compiled or run): the network's
FLOPs, not the recomputed ones. At large images that lowering is slow; `--no-flops` skips it
(`gflop`, `tflop_per_s` and `fraction_of_peak` are then None).

`epoch_s` is `steps per epoch x step_ms` and `projected_run_s` is `epochs x epoch_s`: training
only, without the per-epoch validation and checkpoints that `experiments/qtips.py` adds, so the
measured run is longer. Steps per epoch are `num_train // batch` of the preset whatever
`--image-size`: every size trains on the same number of images per epoch.

Memory: `temp_bytes` is XLA's estimate of the compiled step's scratch buffers
(`memory_analysis().temp_size_in_bytes`: the forward and backward pass's intermediates, the
activations kept for the backward pass among them; not the parameters, optimizer state or
batch). `peak_bytes` is the device allocator's peak (`memory_stats()["peak_bytes_in_use"]`:
everything the process held on the device at once), None on CPU, whose device keeps no
statistics. `peak_rss_bytes` is the process's peak resident memory (`ru_maxrss`) on the host:
on CPU it bounds the step's memory from above, since it also counts Python, JAX, the
compiler's own memory and every earlier compilation in the process (the FLOP count's lowering
too; run one configuration per process to compare sizes); on a GPU it is host memory only.
"""

import argparse
import dataclasses
import json
import resource
import statistics
import sys

import jax
from _timing import compile_seconds, step_seconds
from flax import nnx

from imexjax.data.qtips import MIN_QTIPS_SIZE, NUM_CLASSES, generate_qtips
from imexjax.models import DTYPES, INTEGRATORS, NETWORKS, count_parameters
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
    parser.add_argument(
        "--network", default="timestepping", choices=tuple(NETWORKS), help="the preset of this network kind"
    )
    parser.add_argument("--image-size", type=int, metavar="N", help="images of N x N (default: the preset's, 64)")
    parser.add_argument("--integrator", choices=tuple(INTEGRATORS), help="default: the preset's")
    parser.add_argument("--dtype", choices=DTYPES, help="default: the preset's")
    parser.add_argument("--unroll", type=int, help="steps unrolled per loop iteration (default: the preset's)")
    parser.add_argument(
        "--remat", choices=("on", "off"), help="rematerialize each step in the backward pass (default: the library's)"
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed steps (>= 5)")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count (slow at large images)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s, to report the fraction reached")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be >= 5")
    if args.unroll is not None and args.unroll < 1:
        parser.error("--unroll must be >= 1")
    if args.image_size is not None and args.image_size < MIN_QTIPS_SIZE:
        parser.error(f"--image-size must be >= {MIN_QTIPS_SIZE}")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        parser.error("--peak-tflops must be positive")
    return args


def benchmark_config(args: argparse.Namespace) -> TrainConfig:
    """The preset `args.config` of `args.network` with the command line's size, integrator, dtype and loops."""
    remat = None if args.remat is None else args.remat == "on"
    return qtips_config(args.config, args.network).replace(
        image_size=args.image_size, integrator=args.integrator, dtype=args.dtype, unroll=args.unroll, remat=remat
    )


def peak_rss_bytes() -> int:
    """The process's peak resident memory so far, in bytes (`ru_maxrss` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else 1024 * peak


def _step_and_state(config: TrainConfig, steps_per_epoch: int, task: SegmentationTask, mesh):
    """The jitted training step of `config`, its initial state replicated over `mesh`, and its network."""
    model = build_model(config, in_channels=1, num_outputs=NUM_CLASSES)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    optimizer = make_optimizer(config, steps_per_epoch)
    state = replicate(mesh, {"params": params, "rest": rest, "opt_state": optimizer.init(params)})
    return make_train_step(graphdef, optimizer, task, mesh), state, model


def main(argv=None) -> dict:
    args = parse_args(argv)
    config = benchmark_config(args)
    images, labels = generate_qtips(config.batch_size, seed=config.seed, size=config.image_size)
    task = SegmentationTask(
        NUM_CLASSES, class_weights_from_labels(labels, NUM_CLASSES) if config.class_weighted else None
    )
    mesh = data_mesh()
    steps_per_epoch = config.num_train // config.batch_size  # run_qtips drops the partial last batch
    inputs, targets = shard_batch(mesh, (normalize_images(images, images.mean(), images.std()), labels.astype("int32")))

    gflop = None
    if not args.no_flops:
        unrolled_step, unrolled_state, _ = _step_and_state(
            dataclasses.replace(config, unroll=max(steps for steps, _ in config.geometry), remat=False),
            steps_per_epoch,
            task,
            mesh,
        )
        gflop = unrolled_step.lower(unrolled_state, inputs, targets).cost_analysis()["flops"] / 1e9
        del unrolled_step, unrolled_state

    train_step, state, model = _step_and_state(config, steps_per_epoch, task, mesh)
    stepping = hasattr(model, "blocks")  # the U-Net has no time-stepping blocks: no unroll, no remat
    remat = model.blocks[0].remat if stepping else None
    compiled, compile_s = compile_seconds(train_step, state, inputs, targets)
    memory = compiled.memory_analysis()
    times, _, sums = step_seconds(compiled, state, inputs, targets, repeats=args.repeats)
    step_s = statistics.median(times)
    device = jax.devices()[0]
    tflop_per_s = None if gflop is None else gflop / 1e3 / step_s
    result = {
        "config": config.name,
        "network": config.network,
        "label": config.label,
        "params": count_parameters(model)["total"],
        "integrator": config.integrator,
        "dtype": config.dtype,
        "geometry": [list(block) for block in config.geometry] if stepping else None,
        "batch": config.batch_size,
        "size": int(images.shape[1]),
        "unroll": config.unroll if stepping else None,
        "remat": remat,
        "repeats": args.repeats,
        "step_ms": 1e3 * step_s,
        "step_ms_min": 1e3 * min(times),
        "compile_s": compile_s,
        "gflop": gflop,
        "tflop_per_s": tflop_per_s,
        "peak_tflops": args.peak_tflops,
        "fraction_of_peak": None if tflop_per_s is None or args.peak_tflops is None else tflop_per_s / args.peak_tflops,
        "steps_per_epoch": steps_per_epoch,
        "epoch_s": steps_per_epoch * step_s,
        "epochs": config.epochs,
        "projected_run_s": config.epochs * steps_per_epoch * step_s,
        "peak_bytes": (device.memory_stats() or {}).get("peak_bytes_in_use"),
        "temp_bytes": getattr(memory, "temp_size_in_bytes", None),
        "peak_rss_bytes": peak_rss_bytes(),
        "loss": float(sums["loss"] / sums["count"]),
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "jax_version": jax.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        flops = "" if gflop is None else f", {gflop:.1f} GFLOP ({tflop_per_s:.3f} TFLOP/s)"
        temp = "?" if result["temp_bytes"] is None else f"{result['temp_bytes'] / 2**20:.0f}"
        print(
            f"{config.name} {config.label} {config.dtype} {result['size']}x{result['size']} "
            f"({result['params']:,} parameters) unroll={result['unroll']} remat={remat}: "
            f"step {result['step_ms']:.1f} ms{flops}, compile {compile_s:.1f} s, "
            f"epoch {result['epoch_s']:.1f} s ({steps_per_epoch} steps), temp {temp} MiB, "
            f"peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB, {config.epochs} epochs ~ "
            f"{result['projected_run_s'] / 60:.1f} min of training"
        )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
