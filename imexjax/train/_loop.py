"""The training loop: epochs of jitted steps, evaluation, checkpoints, resume, history and NaN guard."""

import contextlib
import dataclasses
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from tqdm.auto import tqdm

from .._errors import ConfigError, TrainingDivergedError
from ..models import count_parameters
from ._config import TrainConfig
from ._distributed import check_batch_size, data_mesh, replicate, shard_batch
from ._inputs_fit import check_inputs_fit
from ._loader import Loader
from ._metrics import final_metrics
from ._model import build_model, make_optimizer
from ._rundir import RunDir, json_ready, workdir_error
from ._step import make_eval_steps, make_train_step
from ._task import Task


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
    model: nnx.Module


def train_and_evaluate(
    config: TrainConfig,
    workdir: str | os.PathLike | RunDir,
    *,
    task: Task,
    train_loader: Loader,
    val_loader: Loader,
    in_channels: int,
    data: dict[str, Any] | None = None,
    progress: bool = True,
) -> RunResult:
    """Trains `config`'s network on `task`, resuming from `workdir` if it holds checkpoints.

    Writes, through `RunDir`: `config.json`, `data.json` (`data` with `in_channels` and
    `num_outputs`), `history.jsonl` (one line per epoch), `metrics.json` and orbax
    checkpoints under `checkpoints/EPOCH` (the newest two and the best, see `RunCheckpoints`),
    holding the folder's lock (`RunDir.lock`, taken by process 0) from the first checkpoint
    read to the last file written.
    The data order of epoch e depends only on `(config.seed, e)`, so a resumed run ends as an
    uninterrupted one does. With several
    processes, each reads its own rows of every training batch.

    Args:
      config: the run's configuration.
      workdir: the run's folder (a path or a `RunDir`); created if missing.
      task: the loss and metrics.
      train_loader: training batches, shuffled per epoch.
      val_loader: validation batches.
      in_channels: channels of the inputs.
      data: JSON-ready description of the data (source, sizes, input statistics), also
        copied into `metrics.json`.
      progress: show progress bars.

    Returns:
      The final metrics, the history, and the model with the best checkpoint's parameters.

    Raises:
      ConfigError: `workdir` holds a run of another configuration or another process
        trains in it, the batch size does not divide over the devices, or a `zero` boundary
        meets several devices.
      TrainingDivergedError: the loss became NaN or infinite.
    """
    run_dir = workdir if isinstance(workdir, RunDir) else RunDir(workdir)
    run_dir.check_config(config)
    mesh = data_mesh()
    check_batch_size(train_loader.batch_size, mesh.size)
    writer = jax.process_index() == 0
    data = {**(data or {}), "in_channels": in_channels, "num_outputs": task.num_outputs}
    model = build_model(config, in_channels=in_channels, num_outputs=task.num_outputs)
    if progress and writer:
        print(_model_line(config, model, train_loader), file=sys.stderr, flush=True)
    check_inputs_fit(config, model, val_loader)
    if writer:
        run_dir.create()
    train_loader = train_loader.shard(jax.process_index(), jax.process_count())

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)  # rest: batch-norm running statistics, if any
    model.eval()
    eval_graphdef = nnx.graphdef(model)
    optimizer = make_optimizer(config, len(train_loader))
    opt_state = jax.jit(optimizer.init)(params)  # one compiled call, not one per parameter shape
    state = {"params": params, "rest": rest, "opt_state": opt_state}
    train_step = make_train_step(graphdef, optimizer, task, mesh)
    eval_steps = make_eval_steps(eval_graphdef, task, mesh)

    with _sole_writer(run_dir, writer), run_dir.checkpoints() as checkpoints:
        history: list[dict[str, Any]] = []
        best = {"epoch": 0, "val_loss": math.inf, "val": None}
        seconds_before = 0.0
        state = replicate(mesh, state)  # restored in place: each process reads its devices' copies
        restored = checkpoints.restore_newest_intact(state)
        if restored is not None:
            state, meta = restored
            history, best, seconds_before = meta["history"], meta["best"], meta["seconds"]
            if progress and writer:
                print(f"resuming {run_dir.path} after epoch {meta['epoch']}", file=sys.stderr)
        first_epoch = len(history) + 1
        if writer:
            if first_epoch <= config.epochs:
                run_dir.discard_metrics()  # those of a shorter run this one extends
            run_dir.record(config, data)
            run_dir.write_history(history)

        start = time.perf_counter()
        for epoch in range(first_epoch, config.epochs + 1):
            epoch_start = time.perf_counter()
            state, train_sums = _train_epoch(
                train_step, state, train_loader, mesh, epoch, config, task, progress and writer, epoch == first_epoch
            )
            train_seconds = time.perf_counter() - epoch_start
            val = evaluate(
                eval_steps, state["params"], state["rest"], val_loader, task, mesh, progress=progress and writer
            )
            if not math.isfinite(val["loss"]):
                raise _diverged(f"validation loss is {val['loss']} after epoch {epoch}; {_kept(epoch)}")
            record = {
                "epoch": epoch,
                **{f"train_{k}": v for k, v in task.progress(train_sums).items()},
                **{f"val_{k}": v for k, v in val.items()},
                "images_per_second": train_loader.batch_size * len(train_loader) / train_seconds,
                "epoch_seconds": time.perf_counter() - epoch_start,
            }
            history.append(record)
            if val["loss"] < best["val_loss"]:
                best = {"epoch": epoch, "val_loss": val["loss"], "val": val}
            elapsed = seconds_before + time.perf_counter() - start
            meta = {"epoch": epoch, "history": history, "best": best, "seconds": elapsed}
            checkpoints.save(epoch, state, json_ready(meta), best_epoch=best["epoch"])
            if writer:
                run_dir.write_history(history)
                tqdm.write(_epoch_line(record), file=sys.stderr)

        best_state, _ = checkpoints.restore(best["epoch"], {"params": state["params"], "rest": state["rest"]})
        elapsed = seconds_before + time.perf_counter() - start
        metrics = json_ready(final_metrics(config, model, best, history, elapsed, data))
        if writer:
            run_dir.write_json("metrics.json", metrics)
    return RunResult(metrics, history, nnx.merge(eval_graphdef, best_state["params"], best_state["rest"]))


@contextlib.contextmanager
def _sole_writer(run_dir: RunDir, writer: bool) -> Iterator[None]:
    """Holds `run_dir`'s lock in the `writer` process for the block; every process stops if another run holds it.

    Raises:
      ConfigError: another process trains in `run_dir`.
    """
    with contextlib.ExitStack() as stack:
        refusal = None
        if writer:
            try:
                stack.enter_context(run_dir.lock())
            except ConfigError as error:
                refusal = error
        if multihost_utils.broadcast_one_to_all(np.int32(refusal is not None)):  # the writer's outcome, everywhere
            raise refusal or workdir_error(
                f"workdir {run_dir.path} is in use by another run; wait for it or pass another workdir"
            )
        yield


def _train_epoch(
    train_step, state, loader, mesh, epoch, config, task, progress, compiles
) -> tuple[Any, dict[str, float]]:
    """Runs one epoch of `train_step`; returns the new state and the summed training stats.

    With `compiles` (the process's first epoch) the bar says that its first step compiles.
    """
    totals: dict[str, float] = {}
    pending: list[dict[str, jax.Array]] = []
    description = f"epoch {epoch}/{config.epochs}"
    bar = tqdm(
        total=len(loader),
        desc=f"{description} (compiling the training step)" if compiles else description,
        unit="batch",
        disable=not progress,
        leave=False,
        file=sys.stderr,
        mininterval=0.5,
    )
    start = time.perf_counter()
    with bar:
        for step, batch in enumerate(loader.epoch(epoch), 1):
            state, sums = train_step(state, *shard_batch(mesh, batch, process_local=True))
            if compiles and step == 1:
                bar.set_description(description, refresh=False)
            pending.append(sums)
            if step % 10 == 0 or step == len(loader):
                for fetched in jax.device_get(pending):
                    for key, value in fetched.items():
                        totals[key] = totals.get(key, 0.0) + float(value)
                pending.clear()
                if not math.isfinite(totals["loss"]):
                    raise _diverged(
                        f"training loss became {totals['loss']} in epoch {epoch} (batch {step}); {_kept(epoch)}"
                    )
                shown = task.progress(totals)
                shown["img/s"] = step * loader.batch_size / (time.perf_counter() - start)
                bar.set_postfix({k: f"{v:.3g}" for k, v in shown.items()}, refresh=False)
            bar.update(1)
    return state, totals


def evaluate(
    eval_steps, params, rest, loader: Loader, task: Task, mesh: Mesh, *, progress: bool = False
) -> dict[str, Any]:
    """Accumulates `task.eval_sums` over every batch of `loader` and summarizes them.

    Batches that divide over the devices run sharded, a smaller last batch replicated.

    Args:
      eval_steps: from `make_eval_steps`.
      params: the network's parameters, replicated over `mesh`.
      rest: its other variables.
      loader: the split, unsharded (every process reads every batch).
      task: the metrics.
      mesh: the devices.
      progress: show a progress bar.
    """
    totals: dict[str, np.ndarray] = {}
    batches = tqdm(
        loader.epoch(0),
        total=len(loader),
        desc="validation",
        unit="batch",
        disable=not progress,
        leave=False,
        file=sys.stderr,
    )
    for inputs, targets in batches:
        mode = "sharded" if len(inputs) % mesh.size == 0 else "replicated"
        sums = jax.device_get(eval_steps[mode](params, rest, *shard_batch(mesh, (inputs, targets))))
        for key, value in sums.items():
            totals[key] = totals.get(key, 0) + np.asarray(value, dtype=np.float64)
    return task.summarize(totals)


def _model_line(config: TrainConfig, model: nnx.Module, train_loader: Loader) -> str:
    """What the run trains, printed as soon as the network exists: `multilevel IMEX (small): 18,916 parameters, ...`."""
    images = train_loader.batch_size * len(train_loader)
    epochs = f"{config.epochs} epoch" + ("s" if config.epochs != 1 else "")
    return (
        f"{config.label} ({config.name}): {count_parameters(model)['total']:,} parameters, "
        f"{epochs} of {images:,} images in batches of {train_loader.batch_size}"
    )


def _kept(epoch: int) -> str:
    """What a run that stops in `epoch` keeps."""
    return f"kept the checkpoint of epoch {epoch - 1}" if epoch > 1 else "no checkpoint was written"


def _diverged(what: str) -> TrainingDivergedError:
    """The error of a run whose loss is no longer finite: `what` happened, and the fix.

    Its `field` names the configuration field the fix changes first, as `ConfigError.field` does.
    """
    error = TrainingDivergedError(f"{what}. Lower learning_rate or h, or check the data for NaN/Inf")
    error.field = "learning_rate"
    return error


def _epoch_line(record: dict[str, Any]) -> str:
    shown = {k: v for k, v in record.items() if isinstance(v, float) and k not in ("epoch_seconds",)}
    text = "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
    return f"epoch {record['epoch']}: {text}  ({record['epoch_seconds']:.1f} s)"
