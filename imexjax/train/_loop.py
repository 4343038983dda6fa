"""The training loop: jitted steps, evaluation, checkpoints, resume, history and NaN guard."""

import dataclasses
import json
import math
import os
import pathlib
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import flax
import jax
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, PartitionSpec
from tqdm.auto import tqdm

from ..models import TimeSteppingNet, count_parameters
from ._batches import Batches
from ._checkpoints import RunCheckpoints
from ._config import ConfigError, TrainConfig
from ._distributed import check_batch_size, data_mesh, replicate, shard_batch
from ._task import Task


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class RunResult:
    """What `train_and_evaluate` returns.

    Attributes:
      metrics: the contents of `metrics.json`.
      history: one dict per epoch, as in `history.jsonl`.
      model: the network with the best checkpoint's parameters, in evaluation mode.
    """

    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    model: TimeSteppingNet


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam, or SGD with momentum 0.9, at `config.learning_rate`, constant or cosine-decayed to 0."""
    learning_rate = config.learning_rate
    if config.schedule == "cosine":
        learning_rate = optax.cosine_decay_schedule(config.learning_rate, max(config.epochs * steps_per_epoch, 1))
    if config.optimizer == "sgd":
        return optax.sgd(learning_rate, momentum=0.9)
    return optax.adam(learning_rate)


def build_model(config: TrainConfig, *, in_channels: int, num_outputs: int) -> TimeSteppingNet:
    """The network of `config`, initialized from `config.seed`."""
    return TimeSteppingNet(
        in_channels=in_channels, num_outputs=num_outputs, rngs=nnx.Rngs(config.seed), **config.model_options()
    )


_RESUMABLE = ("epochs", "unroll", "remat")
"""Config fields a run may change when it resumes."""


def check_workdir(config: TrainConfig, workdir: str | pathlib.Path) -> None:
    """Raises ConfigError if `workdir` holds a run of another configuration.

    `epochs` may differ (to extend a finished run), and so may `unroll` and `remat`, which
    change how the steps are compiled, not what they compute. A field the saved config
    lacks (written by an older imexjax) counts as its default. Nothing is written.
    """
    path = pathlib.Path(workdir) / "config.json"
    if not path.exists():
        if pathlib.Path(workdir).is_file():
            raise ConfigError(f"workdir {workdir} is a file; pass a folder to --workdir")
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read {path} ({error}); pass a new --workdir") from None
    current = config.to_json()
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    saved = {**defaults, **saved}
    differing = sorted(k for k in set(saved) | set(current) if k not in _RESUMABLE and saved.get(k) != current.get(k))
    if differing:
        changes = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in differing)
        raise ConfigError(f"workdir {workdir} holds a run with another configuration ({changes}); pass a new --workdir")


def train_and_evaluate(
    config: TrainConfig,
    workdir: str | pathlib.Path,
    *,
    task: Task,
    train_batches: Batches,
    val_batches: Batches,
    in_channels: int,
    run_info: dict[str, Any] | None = None,
    progress: bool = True,
) -> RunResult:
    """Trains `config`'s network on `task`, resuming from `workdir` if it holds checkpoints.

    Writes `WORKDIR/config.json`, `history.jsonl` (one line per epoch), `metrics.json` and
    orbax checkpoints under `WORKDIR/checkpoints/{last,best}`. The data order of epoch e
    depends only on `(config.seed, e)`, so a resumed run ends as an uninterrupted one does.

    Args:
      config: the run's configuration.
      workdir: the run's folder; created if missing.
      task: the loss and metrics.
      train_batches: training batches, shuffled per epoch.
      val_batches: validation batches.
      in_channels: channels of the inputs.
      run_info: extra JSON-ready fields for `metrics.json` (data source, ...).
      progress: show progress bars.

    Returns:
      The final metrics, the history, and the model with the best checkpoint's parameters.

    Raises:
      ConfigError: `workdir` holds a run of another configuration.
      TrainingDivergedError: the loss became NaN or infinite.
    """
    workdir = pathlib.Path(workdir)
    check_workdir(config, workdir)
    mesh = data_mesh()
    check_batch_size(train_batches.batch_size, mesh.size)
    writer = jax.process_index() == 0
    if writer:
        workdir.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(workdir / "config.json", config.to_json())

    model = build_model(config, in_channels=in_channels, num_outputs=task.num_outputs)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)  # rest: batch-norm running statistics, if any
    model.eval()
    eval_graphdef = nnx.graphdef(model)
    optimizer = make_optimizer(config, len(train_batches))
    state = {"params": params, "rest": rest, "opt_state": optimizer.init(params)}

    checkpoints = RunCheckpoints(workdir / "checkpoints")
    history: list[dict[str, Any]] = []
    best = {"epoch": 0, "val_loss": math.inf, "val": None}
    seconds_before = 0.0
    if checkpoints.latest_epoch() is not None:
        state, meta = checkpoints.restore(state)
        history, best, seconds_before = meta["history"], meta["best"], meta["seconds"]
        if progress and writer:
            print(f"resuming {workdir} after epoch {meta['epoch']}", file=sys.stderr)
    state = replicate(mesh, state)
    if writer:
        _write_history(workdir / "history.jsonl", history)

    train_step = make_train_step(graphdef, optimizer, task, mesh)

    def forward(params, rest, inputs):
        return nnx.merge(eval_graphdef, params, rest)(inputs)

    def local_eval_step(params, rest, inputs, targets):
        return jax.lax.psum(task.eval_sums(forward(params, rest, inputs), targets), "data")

    replicated, rows = PartitionSpec(), PartitionSpec("data")
    eval_steps = {
        "sharded": jax.jit(
            jax.shard_map(
                local_eval_step, mesh=mesh, in_specs=(replicated, replicated, rows, rows), out_specs=replicated
            )
        ),
        "replicated": jax.jit(
            lambda params, rest, inputs, targets: task.eval_sums(forward(params, rest, inputs), targets)
        ),
    }

    start = time.perf_counter()
    first_epoch = len(history) + 1
    for epoch in range(first_epoch, config.epochs + 1):
        epoch_start = time.perf_counter()
        state, train_sums = _train_epoch(
            train_step, state, train_batches, mesh, epoch, config, task, progress and writer
        )
        train_seconds = time.perf_counter() - epoch_start
        val = evaluate(eval_steps, state["params"], state["rest"], val_batches, task, mesh)
        if not math.isfinite(val["loss"]):
            raise TrainingDivergedError(
                f"validation loss is {val['loss']} after epoch {epoch}; kept the checkpoint of epoch {epoch - 1}. "
                "Lower --lr or h, or check the data for NaN/Inf"
            )
        record = {
            "epoch": epoch,
            **{f"train_{k}": v for k, v in task.progress(train_sums).items()},
            **{f"val_{k}": v for k, v in val.items()},
            "images_per_second": train_batches.batch_size * len(train_batches) / train_seconds,
            "epoch_seconds": time.perf_counter() - epoch_start,
        }
        history.append(record)
        is_best = val["loss"] < best["val_loss"]
        if is_best:
            best = {"epoch": epoch, "val_loss": val["loss"], "val": val}
        elapsed = seconds_before + time.perf_counter() - start
        meta = {"epoch": epoch, "history": history, "best": best, "seconds": elapsed}
        checkpoints.save(epoch, state, _json_ready(meta), is_best=is_best)
        if writer:
            _write_history(workdir / "history.jsonl", history)
            tqdm.write(_epoch_line(record), file=sys.stderr)

    if checkpoints.best_epoch() is not None:
        best_state, _ = checkpoints.restore(state, best=True)
    else:
        best_state = state
    checkpoints.close()
    elapsed = seconds_before + time.perf_counter() - start
    metrics = {
        **{f"val_{k}": v for k, v in best["val"].items()},
        "best_epoch": best["epoch"],
        "final": {f"val_{k}": v for k, v in history[-1].items() if k.startswith("val_")} if history else {},
        "params": count_parameters(model)["total"],
        "param_counts": count_parameters(model),
        "config": config.name,
        **{k: v for k, v in config.to_json().items() if k != "name"},
        "seconds": elapsed,
        **environment_info(),
        **(run_info or {}),
    }
    metrics = _json_ready(metrics)
    if writer:
        _write_json_atomic(workdir / "metrics.json", metrics)
    return RunResult(metrics, history, nnx.merge(eval_graphdef, best_state["params"], best_state["rest"]))


def make_train_step(
    graphdef: nnx.GraphDef, optimizer: optax.GradientTransformation, task: Task, mesh: Mesh
) -> Callable[[dict[str, Any], jax.Array, jax.Array], tuple[dict[str, Any], dict[str, jax.Array]]]:
    """The jitted training step of `train_and_evaluate`: `(state, inputs, targets) -> (state, sums)`.

    Each device runs the step on its rows of the batch and the gradients are averaged over the
    `data` axis of `mesh` (shard_map: XLA's automatic partitioning of the FFT solve fails on
    CPU, "fft_thunk ... IsMonotonicWithDim0Major"). The input state's buffers are donated.

    Args:
      graphdef: the network's graph definition, from `nnx.split(model, nnx.Param, ...)`.
      optimizer: the optimizer whose state is `state["opt_state"]`.
      task: the loss (`task.loss(outputs, targets) -> (loss, sums)`).
      mesh: the devices, with a `data` axis (`data_mesh()`).

    Returns:
      `train_step(state, inputs, targets) -> (state, sums)`: `state` is `{"params", "rest",
      "opt_state"}` (`rest`: batch-norm running statistics, if any) replicated over `mesh`
      (`replicate`); `inputs` (B, H, W, C) and `targets` (B, ...) are sharded by rows
      (`shard_batch`); `sums` are `task.loss`'s sums over the whole batch.
    """

    def forward_train(params, rest, inputs):
        """Outputs and the updated running statistics of batch normalization (else `rest` as is)."""
        model = nnx.merge(graphdef, params, rest, copy=True)  # fresh variables of this trace, mutable
        outputs = model(inputs)
        return outputs, nnx.state(model, nnx.Not(nnx.Param))

    def local_train_step(state, inputs, targets):
        def objective(params):
            outputs, rest = forward_train(params, state["rest"], inputs)
            loss, sums = task.loss(outputs, targets)
            return loss, (sums, rest)

        (_, (sums, rest)), grads = jax.value_and_grad(objective, has_aux=True)(state["params"])
        grads = jax.lax.pmean(grads, "data")
        rest = jax.lax.pmean(rest, "data")  # running statistics averaged over the devices' batches
        updates, opt_state = optimizer.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        return {"params": params, "rest": rest, "opt_state": opt_state}, jax.lax.psum(sums, "data")

    replicated, rows = PartitionSpec(), PartitionSpec("data")
    return jax.jit(
        jax.shard_map(
            local_train_step, mesh=mesh, in_specs=(replicated, rows, rows), out_specs=(replicated, replicated)
        ),
        donate_argnums=0,
    )


def _train_epoch(train_step, state, batches, mesh, epoch, config, task, progress) -> tuple[Any, dict[str, float]]:
    """Runs one epoch of `train_step`; returns the new state and the summed training stats."""
    totals: dict[str, float] = {}
    pending: list[dict[str, jax.Array]] = []
    bar = tqdm(
        total=len(batches),
        desc=f"epoch {epoch}/{config.epochs}",
        unit="batch",
        disable=not progress,
        leave=False,
        file=sys.stderr,
        mininterval=0.5,
    )
    start = time.perf_counter()
    with bar:
        for step, (inputs, targets) in enumerate(batches.epoch(epoch), 1):
            state, sums = train_step(state, *shard_batch(mesh, (inputs, targets)))
            pending.append(sums)
            if step % 10 == 0 or step == len(batches):
                for fetched in jax.device_get(pending):
                    for key, value in fetched.items():
                        totals[key] = totals.get(key, 0.0) + float(value)
                pending.clear()
                if not math.isfinite(totals["loss"]):
                    raise TrainingDivergedError(
                        f"training loss became {totals['loss']} in epoch {epoch} (batch {step}); kept the checkpoint "
                        f"of epoch {epoch - 1}. Lower --lr or h, or check the data for NaN/Inf"
                    )
                shown = task.progress(totals)
                shown["img/s"] = step * batches.batch_size / (time.perf_counter() - start)
                bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)
            bar.update(1)
    return state, totals


def evaluate(eval_steps, params, rest, batches: Batches, task: Task, mesh: Mesh) -> dict[str, Any]:
    """Accumulates `task.eval_sums` over every batch of `batches` and summarizes them.

    Batches that divide over the devices run sharded, a smaller last batch replicated.
    """
    totals: dict[str, np.ndarray] = {}
    for inputs, targets in batches.epoch(0):
        mode = "sharded" if len(inputs) % mesh.size == 0 else "replicated"
        sums = jax.device_get(eval_steps[mode](params, rest, *shard_batch(mesh, (inputs, targets))))
        for key, value in sums.items():
            totals[key] = totals.get(key, 0) + np.asarray(value, dtype=np.float64)
    return task.summarize(totals)


def environment_info() -> dict[str, Any]:
    """Versions and devices, for `metrics.json`."""
    devices = jax.devices()
    return {
        "devices": len(devices),
        "device_kind": devices[0].device_kind,
        "backend": jax.default_backend(),
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "flax": flax.__version__,
            "optax": optax.__version__,
            "numpy": np.__version__,
        },
    }


def _epoch_line(record: dict[str, Any]) -> str:
    shown = {k: v for k, v in record.items() if isinstance(v, float) and k not in ("epoch_seconds",)}
    text = "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
    return f"epoch {record['epoch']}: {text}  ({record['epoch_seconds']:.1f} s)"


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_json_atomic(path: pathlib.Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _write_history(path: pathlib.Path, history: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(_json_ready(r)) + "\n" for r in history))
    os.replace(tmp, path)
