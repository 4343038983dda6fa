"""The folder of one training run: its config, data description, history, metrics and checkpoints."""

import contextlib
import dataclasses
import json
import math
import os
import pathlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import filelock
import numpy as np
from flax import nnx

from .._errors import ConfigError, RunNotFoundError
from ._checkpoint_digests import DamagedCheckpointError
from ._checkpoints import RunCheckpoints
from ._config import TrainConfig
from ._disk_full import DISK_FULL_ERRNOS, DiskFullError
from ._metrics import read_metrics
from ._model import build_model


@dataclasses.dataclass
class FinishedRun:
    """A finished run read back from its folder by `RunDir.load`.

    Attributes:
      workdir: the run's folder.
      config: its configuration.
      metrics: `metrics.json`.
      history: `history.jsonl`, one dict per epoch.
      data: `data.json`: what the run was trained on (source, sizes, input statistics,
        `in_channels`, `num_outputs`).
      model: the network with the best checkpoint's parameters, in evaluation mode.
    """

    workdir: pathlib.Path
    config: TrainConfig
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    data: dict[str, Any]
    model: nnx.Module


LOCK_FILE = "run.lock"
"""The file whose OS lock the process that trains in the folder holds."""

LOCK_HOLDER_FILE = "run.lock.json"
"""Who holds the lock (pid, host, start time), for the message that refuses another process."""


class RunDir:
    """A run's folder: checks it against a config and data, writes its records, loads it when done.

    Files: `config.json` (the `TrainConfig`), `data.json` (what the run trains on, written by
    the experiment and checked on resume), `history.jsonl` (one line per epoch),
    `metrics.json` (the final metrics, written last; removed while a resumed run trains more
    epochs) and `checkpoints/EPOCH` (orbax, see `RunCheckpoints`). Every file is written
    atomically (a temporary file renamed over it), so a run killed at any moment leaves the
    previous version whole. Nothing is written before `create`. While a process trains here
    it holds `lock` (`run.lock`, and `run.lock.json` naming the holder).

    Args:
      path: the folder; created by `create` if missing.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def saved_epochs(self) -> list[int]:
        """The epochs whose checkpoints are in the folder (read from the folder names, no orbax)."""
        folder = self.path / "checkpoints"
        return sorted(int(child.name) for child in folder.iterdir() if child.name.isdigit()) if folder.is_dir() else []

    def has_checkpoints(self) -> bool:
        """Whether training has saved at least one epoch here (before that, nothing here needs keeping)."""
        return bool(self.saved_epochs())

    def check_config(self, config: TrainConfig) -> None:
        """Raises ConfigError if the folder holds a run of another configuration, or more epochs than `config`.

        Fields in `config.RESUMABLE` may differ (`epochs` only upwards); a field the saved
        config lacks (written by an older imexjax) counts as its default. A folder where no
        epoch was saved yet (a run that failed before its first checkpoint) is not binding.
        """
        if self.path.exists() and not self.path.is_dir():
            raise workdir_error(f"workdir {self.path} is a file; pass a folder as workdir")
        if (self.path / "checkpoints" / "last").is_dir():
            raise workdir_error(f"workdir {self.path} holds checkpoints of an older imexjax layout; pass a new workdir")
        saved = self.read_json("config.json")
        if saved is None or not self.has_checkpoints():
            return
        defaults = {f.name: f.default for f in dataclasses.fields(config) if f.default is not dataclasses.MISSING}
        saved = {**defaults, **saved}
        current = config.to_json()
        keys = set(saved) | set(current)
        differing = sorted(k for k in keys if k not in config.RESUMABLE and saved.get(k) != current.get(k))
        if differing:
            changes = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in differing)
            raise workdir_error(
                f"workdir {self.path} holds a run with another configuration ({changes}); pass a new workdir"
            )
        done = max(self.saved_epochs(), default=0)
        if done > config.epochs:
            raise ConfigError(
                f"workdir {self.path} holds a run trained up to epoch {done}; set epochs to {done} or more to extend "
                "it, or pass a new workdir",
                field="epochs",
            )

    def check_data(self, identity: dict[str, Any]) -> dict[str, Any] | None:
        """The saved `data.json` of a run to resume (else None); ConfigError if it names other data than `identity`.

        Args:
          identity: the fields of `data.json` that name the data (source, path, sizes, a
            fingerprint of the contents); a resumed run must match every one of them.
        """
        saved = self.read_json("data.json")
        if saved is None or not self.has_checkpoints():
            return None
        current = json_ready(identity)
        differing = [k for k in current if saved.get(k) != current[k]]
        if differing:
            changes = ", ".join(f"{k}: {saved.get(k)!r} -> {current[k]!r}" for k in differing)
            raise workdir_error(f"workdir {self.path} holds a run on other data ({changes}); pass a new workdir")
        return saved

    def create(self) -> None:
        """Creates the folder (and its parents); ConfigError if it cannot be created or written."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise workdir_error(f"cannot create workdir {self.path} ({error.strerror}); pass another workdir") from None
        if not os.access(self.path, os.W_OK):
            raise workdir_error(f"workdir {self.path} is not writable; pass another workdir")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Holds the folder's lock for the block, so that one process at a time trains here.

        The lock is the operating system's lock on `run.lock`, which the system releases when
        the holding process ends in any way (also `kill -9`): no stale lock is left behind.
        `run.lock.json` names the holder while it holds the lock. Call `create` first.

        Raises:
          ConfigError: another process holds the lock (the message names it).
        """
        lock = filelock.FileLock(self.path / LOCK_FILE, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            holder = self._lock_holder()
            raise workdir_error(
                f"workdir {self.path} is in use by another run{holder}; wait for it or pass another workdir"
            ) from None
        try:
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            self.write_json(LOCK_HOLDER_FILE, {"pid": os.getpid(), "host": socket.gethostname(), "started": started})
            yield
        finally:
            (self.path / LOCK_HOLDER_FILE).unlink(missing_ok=True)
            lock.release()

    def _lock_holder(self) -> str:
        """` (pid PID on HOST, started TIME)` from `run.lock.json`, or nothing if it cannot be read."""
        try:
            holder = self.read_json(LOCK_HOLDER_FILE)
            return f" (pid {holder['pid']} on {holder['host']}, started {holder['started']})"
        except (ConfigError, TypeError, KeyError):  # not written yet, or already removed
            return ""

    def record(self, config: TrainConfig, data: dict[str, Any]) -> None:
        """Writes `config.json` and `data.json`: what the run in this folder trains, and on what."""
        self.write_json("config.json", config.to_json())
        self.write_json("data.json", data)

    def checkpoints(self) -> RunCheckpoints:
        """The run's orbax checkpoints (close them, or use as a context manager)."""
        return RunCheckpoints(self.path / "checkpoints")

    def write_json(self, name: str, data: Any) -> None:
        """Writes `data` (made JSON-ready) to `name` in the folder, atomically."""
        self._write_atomic(name, json.dumps(json_ready(data), indent=2) + "\n")

    def write_history(self, history: list[dict[str, Any]]) -> None:
        """Writes `history.jsonl`, one line per epoch, atomically."""
        self._write_atomic("history.jsonl", "".join(json.dumps(json_ready(r)) + "\n" for r in history))

    def read_history(self) -> list[dict[str, Any]]:
        """The epochs of `history.jsonl` (empty if there is none); ConfigError if it cannot be read."""
        path = self.path / "history.jsonl"
        if not path.is_file():
            return []
        try:
            return [json.loads(line) for line in path.read_text().splitlines() if line]
        except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
            raise workdir_error(f"cannot read {path} ({error}); pass a new workdir") from None

    def discard_metrics(self) -> None:
        """Removes `metrics.json`: the run is training on, and is not finished until it writes new ones."""
        try:
            (self.path / "metrics.json").unlink(missing_ok=True)
        except OSError as error:
            raise ConfigError(
                f"cannot remove {self.path / 'metrics.json'} ({error.strerror}); check its permissions"
            ) from None

    def load(self, config_type: type[TrainConfig] = TrainConfig) -> FinishedRun:
        """Reads a finished run: config, metrics, history, data and the best checkpoint's network.

        Only the network's variables are restored (no optimizer is built). The files must
        describe one run: as many epochs in `history.jsonl` and `metrics.json` as `config.json`
        asks for, and the best metrics equal to those the best checkpoint recorded.

        Args:
          config_type: the class of the run's config (a `TrainConfig` subclass of the experiment).

        Raises:
          RunNotFoundError: the folder holds no finished run (a file is missing, or the run was
            resumed and has not finished), or its files disagree.
          ConfigError: its config does not fit `config_type`.
          DamagedCheckpointError: its best checkpoint is damaged.
        """
        for required in ("config.json", "data.json", "history.jsonl"):
            if not (self.path / required).is_file():
                raise RunNotFoundError(f"{self.path} holds no finished run ({required} is missing); train it first")
        config = config_type.from_json(self.read_json("config.json"))
        data = self.read_json("data.json")
        history = self.read_history()
        metrics = read_metrics(self.read_json("metrics.json"))
        if metrics is None or len(history) != config.epochs or metrics.get("epochs") != config.epochs:
            raise RunNotFoundError(
                f"{self.path} holds no finished run: it has trained {len(history)} of its {config.epochs} epochs; "
                "rerun its training to finish it"
            )
        model = build_model(config, in_channels=data["in_channels"], num_outputs=data["num_outputs"])
        model.eval()
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        best_epoch = metrics["best_epoch"]
        with self.checkpoints() as checkpoints:
            if best_epoch not in checkpoints.epochs():
                raise RunNotFoundError(
                    f"{self.path} lacks the checkpoint of its best epoch {best_epoch}; rerun its training"
                )
            try:
                state, meta = checkpoints.restore(best_epoch, {"params": params, "rest": rest})
            except DamagedCheckpointError as error:
                raise DamagedCheckpointError(f"{error}; rerun its training in a new workdir") from None
        recorded = {"best_epoch": meta["best"]["epoch"], **{f"val_{k}": v for k, v in meta["best"]["val"].items()}}
        differing = sorted(k for k, v in recorded.items() if metrics.get(k) != v)
        if differing:
            raise RunNotFoundError(
                f"{self.path / 'metrics.json'} disagrees with the best checkpoint (epoch {best_epoch}) in "
                f"{', '.join(differing)}; rerun its training to write it again"
            )
        model = nnx.merge(graphdef, state["params"], state["rest"])
        return FinishedRun(self.path, config, metrics, history, data, model)

    def read_json(self, name: str) -> Any:
        """The JSON file `name` of the folder (None if missing); ConfigError if it cannot be read."""
        path = self.path / name
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
            raise workdir_error(f"cannot read {path} ({error}); pass a new workdir") from None

    def _write_atomic(self, name: str, text: str) -> None:
        path = self.path / name
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError as error:
            if error.errno in DISK_FULL_ERRNOS:
                raise DiskFullError(
                    f"cannot write {path} ({error.strerror}); the checkpoints are kept: free space there and rerun "
                    "the same command to resume"
                ) from None
            raise workdir_error(f"cannot write {path} ({error.strerror}); pass another workdir") from None


def json_ready(value: Any) -> Any:
    """`value` with numpy scalars as Python numbers, tuples as lists and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def workdir_error(message: str) -> ConfigError:
    """A `ConfigError` about the run's folder, whose `field` is `workdir`."""
    return ConfigError(message, field="workdir")
