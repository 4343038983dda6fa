"""Runs that lose nothing: damaged checkpoints, crashes between writes, other data, bad folders, bad sizes."""

import errno
import json
import logging
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
from helpers import load_script, snapshot, tree_allclose

from imexjax._errors import RunNotFoundError
from imexjax.data.qtips import qtips_splits, write_qtips_folder
from imexjax.recipes import load_run, qtips_config, run_qtips
from imexjax.train import ConfigError, DamagedCheckpointError, DiskFullError, RunCheckpoints, RunDir

TINY = qtips_config("tiny").replace(num_train=16, num_val=8)


def cli(argv: list[str], capsys) -> tuple[int, str]:
    """Runs experiments/qtips.py in-process; returns its exit code and its last stderr line."""
    fixed = ["--integrator", "imex", "--config", "tiny", "--num-train", "16", "--num-val", "8", "--no-progress"]
    code = load_script("experiments/qtips.py").main([*fixed, *argv])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error", "warning"))]
    assert all("Traceback" not in line for line in lines)
    return code, "\n".join(lines)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch run, copied by each test that damages it."""
    workdir = tmp_path_factory.mktemp("finished") / "run"
    run_qtips(TINY.replace(epochs=2), workdir, progress=False)
    return workdir


def copy_of(finished: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir)
    return workdir


def files_but_the_lock(workdir: pathlib.Path) -> dict[str, tuple[int, int]]:
    """`snapshot` of the run's files, without `run.lock` (which every process that tries the lock opens)."""
    return {name: stamp for name, stamp in snapshot(workdir).items() if name != "run.lock"}


def largest_file(folder: pathlib.Path) -> pathlib.Path:
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def edit_meta(checkpoint: pathlib.Path, edit) -> None:
    """Applies `edit` to the JSON of `checkpoint`'s meta item, in place."""
    path = checkpoint / "meta" / "metadata"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def flip_a_bit_of_a_digit(meta_file: pathlib.Path) -> None:
    """Flips the lowest bit of the last digit of the file: the JSON still parses, one number differs."""
    data = bytearray(meta_file.read_bytes())
    last_digit = max(i for i, byte in enumerate(data) if chr(byte).isdigit())
    data[last_digit] ^= 1
    meta_file.write_bytes(bytes(data))


META_EDITS = {
    "best iou": lambda meta: meta["best"]["val"].update(iou=0.999),
    "best epoch": lambda meta: meta["best"].update(epoch=1),
    "history": lambda meta: meta["history"][0].update(val_loss=0.0),
    "a checksum": lambda meta: meta["checksums"].update(params=meta["checksums"]["opt_state"]),
    "the digest": lambda meta: meta.update(digest="0" * 64),
}


def test_checkpoints_keep_the_newest_two_and_the_best_and_record_checksums(finished):
    history = [json.loads(line) for line in (finished / "history.jsonl").read_text().splitlines()]
    best = min(history, key=lambda r: r["val_loss"])["epoch"]
    with RunCheckpoints(finished / "checkpoints") as checkpoints:
        assert checkpoints.epochs() == [1, 2]
        _, meta = checkpoints.restore(2, {})
        assert set(meta["checksums"]) == {"params", "opt_state"} and meta["best"]["epoch"] == best
    assert json.loads((finished / "metrics.json").read_text())["best_epoch"] == best


@pytest.mark.parametrize("edit", [*META_EDITS, "a flipped bit", "no digest"])
def test_every_edit_of_a_checkpoints_meta_is_caught_when_it_is_restored(finished, tmp_path, edit):
    workdir = copy_of(finished, tmp_path)
    checkpoint = workdir / "checkpoints" / "2"
    if edit == "a flipped bit":
        flip_a_bit_of_a_digit(checkpoint / "meta" / "metadata")
        message = "checkpoints/2 is damaged: its meta differs from that saved"
    elif edit == "no digest":  # as an older imexjax wrote it
        edit_meta(checkpoint, lambda meta: meta.pop("digest"))
        message = "checkpoints/2 cannot be verified \\(an older imexjax wrote it"
    else:
        edit_meta(checkpoint, META_EDITS[edit])
        message = "checkpoints/2 is damaged: its meta differs from that saved"
    with RunCheckpoints(workdir / "checkpoints") as checkpoints:
        _, meta = checkpoints.restore(1, {})  # the other checkpoint is intact
        assert meta["epoch"] == 1
        with pytest.raises(DamagedCheckpointError, match=message):
            checkpoints.restore(2, {})


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # orbax abandons a read
@pytest.mark.parametrize("damage", ["overwrite", "truncate", "edited meta"])
def test_a_damaged_newest_checkpoint_is_set_aside_and_training_resumes_from_the_one_before(
    finished, tmp_path, capsys, damage
):
    workdir = copy_of(finished, tmp_path)
    target = largest_file(workdir / "checkpoints" / "2" / "params" / "ocdbt.process_0" / "d")  # array data
    data = bytearray(target.read_bytes())
    if damage == "overwrite":  # same size, different bytes from the middle on: only the checksums can tell
        middle = len(data) // 2
        data[middle:] = bytes(i % 251 for i in range(len(data) - middle))
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    else:
        edit_meta(workdir / "checkpoints" / "2", META_EDITS["best iou"])
    intact = snapshot(workdir / "checkpoints" / "1")
    code, err = cli(["--epochs", "3", "--workdir", str(workdir)], capsys)
    assert code == 0
    assert err.startswith("warning: checkpoint ") and "checkpoints/2" in err and "resumed from epoch 1" in err
    assert "\n" not in err
    assert (workdir / "checkpoints" / "damaged-2").is_dir()
    assert [json.loads(line)["epoch"] for line in (workdir / "history.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert (
        snapshot(workdir / "checkpoints" / "1") == intact or 1 not in RunCheckpoints(workdir / "checkpoints").epochs()
    )


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("damage", ["emptied files", "no digests"])
def test_a_run_whose_every_checkpoint_is_damaged_stops_in_one_line_and_keeps_its_files(
    finished, tmp_path, capsys, damage
):
    workdir = copy_of(finished, tmp_path)
    for epoch in ("1", "2"):
        if damage == "emptied files":
            largest_file(workdir / "checkpoints" / epoch).write_bytes(b"")
        else:  # a run of an older imexjax
            edit_meta(workdir / "checkpoints" / epoch, lambda meta: meta.pop("digest"))
    before = files_but_the_lock(workdir)
    code, err = cli(["--epochs", "3", "--workdir", str(workdir)], capsys)
    assert code == 1 and err.startswith("error: checkpoint ") and "no intact checkpoint is left" in err
    assert f"move {workdir / 'checkpoints'} away" in err and "\n" not in err
    assert files_but_the_lock(workdir) == before


def test_a_crash_after_the_last_save_is_repaired_by_the_rerun_and_best_agrees_with_metrics(
    finished, tmp_path, capsys, monkeypatch
):
    workdir = tmp_path / "crashed"

    def crash(self, name, data):
        raise KeyboardInterrupt  # stands for a kill after the final checkpoint, before metrics.json

    monkeypatch.setattr(RunDir, "write_json", lambda self, name, data: crash(self, name, data) if name == "metrics.json"
                        else RunDir._write_atomic(self, name, json.dumps(data, indent=2) + "\n"))  # fmt: skip
    code, err = cli(["--epochs", "2", "--workdir", str(workdir)], capsys)
    assert code == 130 and not (workdir / "metrics.json").exists()
    monkeypatch.undo()
    code, _ = cli(["--epochs", "2", "--workdir", str(workdir)], capsys)
    assert code == 0
    resumed, reference = load_run(workdir), load_run(finished)
    assert resumed.metrics["best_epoch"] == reference.metrics["best_epoch"]
    assert resumed.metrics["val_loss"] == reference.metrics["val_loss"]
    assert tree_allclose(
        resumed.model(np.ones((1, 8, 8, 1), np.float32)),
        reference.model(np.ones((1, 8, 8, 1), np.float32)),
        rtol=0,
        atol=0,
    )


def test_a_run_extended_and_killed_is_not_loaded_as_finished_until_a_rerun_finishes_it(
    finished, tmp_path, capsys, monkeypatch
):
    workdir = copy_of(finished, tmp_path)
    write_history = RunDir.write_history

    def killed_after_epoch_3(self, history):
        write_history(self, history)
        if len(history) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "write_history", killed_after_epoch_3)
    code, _ = cli(["--epochs", "4", "--workdir", str(workdir)], capsys)
    monkeypatch.undo()
    assert code == 130 and not (workdir / "metrics.json").exists()
    with pytest.raises(RunNotFoundError, match="has trained 3 of its 4 epochs; rerun its training to finish it"):
        load_run(workdir)
    shutil.copy(finished / "metrics.json", workdir)  # as an older imexjax left it: the 2-epoch run's metrics
    with pytest.raises(RunNotFoundError, match="has trained 3 of its 4 epochs"):
        load_run(workdir)
    code, _ = cli(["--epochs", "4", "--workdir", str(workdir)], capsys)
    assert code == 0
    run = load_run(workdir)
    assert run.config.epochs == run.metrics["epochs"] == len(run.history) == 4
    assert run.metrics["final"] == {k: v for k, v in run.history[-1].items() if k.startswith("val_")}
    assert "val_loss" in run.metrics["final"] and not any(k.startswith("val_val_") for k in run.metrics["final"])


def test_a_run_whose_final_metrics_an_older_imexjax_named_val_val_reads_as_now(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    metrics = json.loads((workdir / "metrics.json").read_text())
    older = {f"val_{key}": value for key, value in metrics["final"].items()}  # val_val_loss, val_val_iou, ...
    assert "val_val_loss" in older
    (workdir / "metrics.json").write_text(json.dumps(metrics | {"final": older}))
    run = load_run(workdir)
    assert run.metrics == load_run(finished).metrics
    assert run.metrics["final"] == {k: v for k, v in run.history[-1].items() if k.startswith("val_")}


def test_the_engine_names_the_field_to_change_and_no_command_line_flag(finished, tmp_path):
    from imexjax.tasks import SegmentationTask
    from imexjax.train import ArraySource, Loader, check_batch_size, train_and_evaluate

    (tmp_path / "file").write_text("x")
    images, labels = np.zeros((8, 2, 2, 1), np.float32), np.zeros((8, 2, 2), np.int32)
    small = Loader(ArraySource(images, labels), 8, shuffle=False, drop_remainder=False)
    refusals = {
        "workdir": lambda: RunDir(tmp_path / "file").check_config(TINY),
        "epochs": lambda: RunDir(finished).check_config(TINY.replace(epochs=1)),
        "batch_size": lambda: check_batch_size(10, 4),
        "implicit_kernel_size": lambda: train_and_evaluate(
            TINY, tmp_path / "run", task=SegmentationTask(4), train_loader=small, val_loader=small, in_channels=1
        ),
    }
    for field, refusal in refusals.items():
        with pytest.raises(ConfigError) as error:
            refusal()
        assert error.value.field == field and re.search(rf"\b{field}\b", str(error.value)), str(error.value)
        assert not re.search(r"(^|\s)--\w", str(error.value)), str(error.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("edit", [{"val_iou": 0.999}, {"best_epoch": 1}])
def test_metrics_that_disagree_with_the_best_checkpoint_are_refused_and_a_rerun_writes_them_again(
    finished, tmp_path, capsys, edit
):
    workdir = copy_of(finished, tmp_path)
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["best_epoch"] == 2  # the edit of best_epoch names the other checkpoint
    (workdir / "metrics.json").write_text(json.dumps(metrics | edit))
    with pytest.raises(RunNotFoundError, match="metrics.json disagrees with the best checkpoint .* rerun its training"):
        load_run(workdir)
    code, _ = cli(["--epochs", "2", "--workdir", str(workdir)], capsys)
    assert code == 0 and load_run(workdir).metrics == load_run(finished).metrics | {
        "seconds": load_run(workdir).metrics["seconds"]
    }


HOLD_THE_LOCK = """
import sys, time
from imexjax.train import RunDir
run_dir = RunDir(sys.argv[1])
run_dir.create()
with run_dir.lock():
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_process_on_a_workdir_is_refused_in_one_line_and_a_killed_one_leaves_no_lock(
    finished, tmp_path, capsys
):
    workdir = copy_of(finished, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(workdir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        before = files_but_the_lock(workdir)
        code, err = cli(["--epochs", "3", "--workdir", str(workdir)], capsys)
        assert code == 1
        assert re.match(
            rf"error: (--)?workdir {re.escape(str(workdir))} is in use by another run "
            rf"\(pid {holder.pid} on {re.escape(socket.gethostname())}, started ",
            err,
        )
        assert re.search(r"; wait for it or pass another (--)?workdir$", err) and "\n" not in err
        assert files_but_the_lock(workdir) == before
    finally:
        holder.kill()  # SIGKILL: nothing of the holder runs any more
        holder.wait()
    assert (workdir / "run.lock.json").is_file()  # the killed holder's name stays, and binds nothing
    code, _ = cli(["--epochs", "3", "--workdir", str(workdir)], capsys)
    assert code == 0 and load_run(workdir).metrics["epochs"] == 3
    assert not (workdir / "run.lock.json").exists()


FILL_THE_DISK = """
import resource, signal, sys
import numpy as np
from imexjax import UserError
from imexjax.train import RunCheckpoints

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as ENOSPC fails
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
noise = np.random.default_rng(0).random(200_000, np.float32)  # 800 kB that do not compress
try:
    with RunCheckpoints(sys.argv[1]) as checkpoints:
        checkpoints.save(2, {"params": {"w": noise}}, {"epoch": 2}, best_epoch=2)
except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
"""


def test_a_full_disk_while_a_checkpoint_is_saved_is_one_line_and_keeps_the_checkpoints_before(tmp_path):
    directory = tmp_path / "checkpoints"
    save_epochs(directory, range(1, 2), best_epoch=1)
    done = subprocess.run([sys.executable, "-c", FILL_THE_DISK, str(directory)], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "ERROR" not in done.stderr  # orbax logs none
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: cannot write the checkpoint of epoch 2 to {directory} (File too large); "
        "the checkpoints before it are kept: free space there and rerun the same command to resume"
    )
    with RunCheckpoints(directory) as checkpoints:
        assert checkpoints.epochs() == [1]
        state, _ = checkpoints.restore(1, {"params": {"w": np.zeros(3, np.float32)}})
        assert state["params"]["w"].tolist() == [1, 1, 1]


def test_a_disk_without_room_for_the_next_checkpoint_is_one_line_before_anything_is_written(tmp_path, monkeypatch):
    directory = tmp_path / "checkpoints"
    save_epochs(directory, range(1, 2), best_epoch=1)
    before = snapshot(directory)
    real_disk_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real_disk_usage(path)._replace(free=500_000))
    with pytest.raises(DiskFullError, match="epoch 2 .*No space left on device: 0.5 MiB free, 1.0 MiB needed"):
        save_epochs(directory, range(2, 3), best_epoch=2)
    assert snapshot(directory) == before


def test_a_full_disk_in_training_stops_in_one_line_and_the_rerun_resumes(
    finished, tmp_path, capsys, caplog, monkeypatch
):
    import orbax.checkpoint as ocp

    workdir = copy_of(finished, tmp_path)
    real_save = ocp.CheckpointManager.save

    def save_on_a_full_disk(self, step, *args, **kwargs):
        if step < 3:
            return real_save(self, step, *args, **kwargs)
        error = ValueError(  # what tensorstore raises when the disk is full; orbax logs it with its traceback
            'OUT_OF_RANGE: Error writing "w/0" in OCDBT database at local file ...: Failed to write 6000 bytes '
            "to file 11: No space left on device [os_error_code='28']"
        )
        logging.getLogger("absl").error("_SignalingThread.run() raised an exception", exc_info=error)
        raise error

    monkeypatch.setattr(ocp.CheckpointManager, "save", save_on_a_full_disk)
    code, err = cli(["--epochs", "3", "--workdir", str(workdir)], capsys)
    monkeypatch.undo()
    assert code == 1 and err == (
        f"error: cannot write the checkpoint of epoch 3 to {workdir / 'checkpoints'} (No space left on device); "
        "the checkpoints before it are kept: free space there and rerun the same command to resume"
    )
    assert not [record for record in caplog.records if record.exc_info]
    assert RunDir(workdir).saved_epochs() == [1, 2] and len(RunDir(workdir).read_history()) == 2
    code, _ = cli(["--epochs", "3", "--workdir", str(workdir)], capsys)
    assert code == 0 and [record["epoch"] for record in load_run(workdir).history] == [1, 2, 3]


def test_a_resume_on_other_data_of_the_same_size_is_refused_by_its_fingerprint(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    write_qtips_folder(first, qtips_splits(seed=1, num_train=16, num_val=8))
    write_qtips_folder(second, qtips_splits(seed=2, num_train=16, num_val=8))
    run_qtips(TINY.replace(epochs=1), tmp_path / "run", data_dir=first, progress=False)
    first.rename(tmp_path / "moved")
    second.rename(first)  # the same path and sizes, other images
    before = snapshot(tmp_path / "run")
    code, err = cli(["--epochs", "2", "--workdir", str(tmp_path / "run"), "--data-dir", str(first)], capsys)
    assert code == 1 and "run on other data (fingerprint: " in err and "\n" not in err
    assert snapshot(tmp_path / "run") == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_workdir_is_one_line(tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, err = cli(["--workdir", str(folder / "run")], capsys)
    finally:
        folder.chmod(0o700)
    assert code == 1 and re.match(r"error: cannot create (--)?workdir", err)


def test_a_workdir_the_system_refuses_is_one_line(tmp_path, capsys, monkeypatch):
    # As root a read-only folder does not refuse (the test above is skipped): the refusal is simulated.
    target = tmp_path / "refused" / "run"
    real_mkdir = pathlib.Path.mkdir

    def mkdir(path, *args, **kwargs):
        if path == target:
            raise PermissionError(13, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    code, err = cli(["--workdir", str(target)], capsys)
    assert code == 1
    assert re.fullmatch(  # the engine names the field `workdir`, the command line may name its flag
        rf"error: cannot create (--)?workdir {re.escape(str(target))} \(Permission denied\); pass another (--)?workdir",
        err.strip(),
    )


def test_a_workdir_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, err = cli(["--workdir", str(tmp_path / "file" / "run")], capsys)
    assert code == 1 and re.match(r"error: cannot create (--)?workdir", err) and "\n" not in err


def test_images_too_small_for_the_kernels_are_refused_before_anything_is_written_and_the_fix_is_accepted(
    tmp_path, capsys
):
    tiny_images = tmp_path / "tiny-images"
    splits = qtips_splits(seed=0, num_train=16, num_val=8)
    write_qtips_folder(tiny_images, {k: (x[:, :2, :2].copy(), y[:, :2, :2].copy()) for k, (x, y) in splits.items()})
    workdir = tmp_path / "run"
    code, err = cli(["--workdir", str(workdir), "--data-dir", str(tiny_images), "--epochs", "1"], capsys)
    assert code == 1 and "do not fit the network" in err and "kernel size k=3 exceeds the grid 2x2" in err
    assert not workdir.exists()
    (workdir / "checkpoints").mkdir(parents=True)  # what a failure inside the first epoch leaves
    (workdir / "config.json").write_text(json.dumps(TINY.replace(epochs=9).to_json()))
    code, _ = cli(["--workdir", str(workdir), "--epochs", "1"], capsys)
    assert code == 0 and json.loads((workdir / "config.json").read_text())["epochs"] == 1


def test_fewer_epochs_than_a_run_holds_are_refused_untouched(finished, capsys):
    before = snapshot(finished)
    code, err = cli(["--epochs", "1", "--workdir", str(finished)], capsys)
    assert code == 1 and re.search(r"holds a run trained up to epoch 2; set (--)?epochs to 2 or more", err)
    assert snapshot(finished) == before


@pytest.mark.parametrize("argv, message", [(["--seed", "-1"], "seed must be an integer from 0")])
def test_smaller_bad_options_are_one_line(tmp_path, capsys, argv, message):
    code, err = cli([*argv, "--workdir", str(tmp_path / "run")], capsys)
    assert code == 1 and message in err and not (tmp_path / "run").exists()


def test_compare_into_a_file_is_one_line(finished, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert (
        load_script("experiments/compare.py").main([str(finished), str(finished), "--out", str(tmp_path / "file")]) == 1
    )
    assert capsys.readouterr().err.strip() == f"error: --out {tmp_path / 'file'} is a file; pass a folder"


def test_equal_validation_losses_keep_the_earliest_as_best(tmp_path):
    workdir = tmp_path / "flat"
    result = run_qtips(TINY.replace(epochs=3, learning_rate=1e-30), workdir, progress=False)  # nothing moves
    assert len({record["val_loss"] for record in result.history}) == 1
    assert result.metrics["best_epoch"] == 1 and load_run(workdir).metrics["best_epoch"] == 1
    with RunCheckpoints(workdir / "checkpoints") as checkpoints:
        assert checkpoints.epochs() == [1, 2, 3]


def test_resumed_runs_keep_only_the_newest_two_epochs_and_the_best(tmp_path, capsys):
    workdir = tmp_path / "flat"
    for epochs in (2, 3, 4, 5):  # each run reopens the checkpoints, as a rerun after a kill does
        code, _ = cli(["--epochs", str(epochs), "--lr", "1e-30", "--workdir", str(workdir)], capsys)
        assert code == 0
        with RunCheckpoints(workdir / "checkpoints") as checkpoints:  # nothing moves: epoch 1 stays the best
            assert checkpoints.epochs() == sorted({1, epochs - 1, epochs})
    assert json.loads((workdir / "metrics.json").read_text())["best_epoch"] == 1


def save_epochs(directory: pathlib.Path, epochs: range, *, best_epoch: int) -> None:
    with RunCheckpoints(directory) as checkpoints:
        for epoch in epochs:
            state = {"params": {"w": np.full(3, epoch, np.float32)}}
            checkpoints.save(epoch, state, {"epoch": epoch}, best_epoch=best_epoch)


def test_deletions_cut_short_by_a_kill_are_finished_and_a_step_without_orbax_metadata_is_set_aside(
    tmp_path, caplog, capsys, monkeypatch
):
    directory = tmp_path / "checkpoints"
    save_epochs(directory, range(1, 4), best_epoch=1)
    with monkeypatch.context() as patch:  # a kill while epoch 2 is deleted leaves it renamed, not removed
        patch.setattr(shutil, "rmtree", lambda path: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            save_epochs(directory, range(4, 5), best_epoch=1)
    # a step without orbax's metadata (deleted by an older imexjax's orbax deleter, or copied by hand) is kept aside
    (directory / "3" / "_CHECKPOINT_METADATA").unlink()
    assert sorted(child.name for child in directory.iterdir()) == ["1", "3", "4", "deleting-2"]
    with caplog.at_level(logging.INFO), RunCheckpoints(directory) as checkpoints:
        assert checkpoints.epochs() == [1, 4]
        state, meta = checkpoints.restore(4, {"params": {"w": np.zeros(3, np.float32)}})
    assert meta["epoch"] == 4 and state["params"]["w"].tolist() == [4, 4, 4]
    assert sorted(child.name for child in directory.iterdir()) == ["1", "4", "damaged-3"]
    err = capsys.readouterr().err.strip()
    assert err.startswith("warning: checkpoint ") and "lacks orbax's _CHECKPOINT_METADATA" in err and "\n" not in err
    assert "moved it to damaged-3" in err and (directory / "damaged-3" / "params").is_dir()  # nothing deleted
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_epoch_damaged_twice_is_set_aside_under_a_free_name(finished, tmp_path, capsys):
    workdir = copy_of(finished, tmp_path)
    for name in ["damaged-2", "damaged-2.1"]:
        edit_meta(workdir / "checkpoints" / "2", META_EDITS["best iou"])
        code, err = cli(["--epochs", "2", "--workdir", str(workdir)], capsys)
        assert code == 0 and err.endswith(f"moved it to {name}, resumed from epoch 1") and "\n" not in err
        assert (workdir / "checkpoints" / name).is_dir() and (workdir / "checkpoints" / "2").is_dir()
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.startswith("damaged")) == [
        "damaged-2",
        "damaged-2.1",
    ]


@pytest.mark.parametrize("name", ["config.json", "history.jsonl", "metrics.json"])
def test_a_run_file_that_is_not_utf8_is_one_line(finished, tmp_path, capsys, name):
    workdir = copy_of(finished, tmp_path)
    (workdir / name).write_bytes(b"\xff\xfe{" + (workdir / name).read_bytes())
    with pytest.raises(ConfigError, match=f"cannot read .*{name}.*; pass a new workdir$") as error:
        load_run(workdir)
    assert error.value.field == "workdir"


def test_a_full_disk_while_a_run_file_is_written_is_one_line_that_says_to_free_space(tmp_path, monkeypatch):
    run_dir = RunDir(tmp_path / "run")
    run_dir.create()

    def full(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    with pytest.raises(DiskFullError, match="No space left on device.*free space there and rerun the same command"):
        run_dir.write_history([{"epoch": 1}])


def test_an_unreadable_history_or_a_run_of_another_task_is_one_line_and_a_resume_repairs_it(finished, tmp_path, capsys):
    workdir = copy_of(finished, tmp_path)
    with pytest.raises(ConfigError, match="holds a qtips run; this command takes depth runs"):
        load_run(workdir, task="depth")
    with (workdir / "history.jsonl").open("a") as history:
        history.write("{bad\n")
    with pytest.raises(ConfigError, match="cannot read .*history.jsonl"):
        load_run(workdir)
    code, _ = cli(["--epochs", "3", "--workdir", str(workdir)], capsys)  # the checkpoint's history rewrites it
    assert code == 0
    assert [json.loads(line)["epoch"] for line in (workdir / "history.jsonl").read_text().splitlines()] == [1, 2, 3]


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--remat", "maybe"], 1, "expected on, off or auto"),
        (["--coordinator", "127.0.0.1:1"], 1, "--coordinator needs --num-processes N and --process-id I"),
    ],
)
def test_cluster_and_remat_flags_fail_in_one_line(tmp_path, capsys, argv, code, message):
    try:
        status, err = cli([*argv, "--workdir", str(tmp_path / "run")], capsys)
    except SystemExit as exit_:
        status, err = exit_.code, capsys.readouterr().err
    assert status == code and message in err and "Traceback" not in err


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(geometry=[(2.5, 4)]), "geometry must be a non-empty list of \\(layers >= 1, width >= 1\\) integers"),
        (dict(in_channels=0), "in_channels must be a positive integer, got 0"),
        (dict(num_outputs=-1), "num_outputs must be a positive integer"),
        (dict(implicit_init_scale=0.0), "implicit_init_scale must be a positive number"),
        (dict(implicit_init_scale=1j), "implicit_init_scale must be a positive number"),
    ],
)
def test_networks_refuse_geometries_channels_and_scales_that_cannot_work(options, message):
    from flax import nnx

    from imexjax.models import TimeSteppingNet

    arguments = dict(geometry=[(2, 4)], in_channels=1, num_outputs=2, integrator="imex") | options
    with pytest.raises(ValueError, match=message):
        TimeSteppingNet(arguments.pop("geometry"), rngs=nnx.Rngs(0), **arguments)


def test_a_string_step_size_and_a_first_epoch_nan_are_named_plainly(tmp_path):
    import jax.numpy as jnp

    import imexjax as ix
    from imexjax.tasks import SegmentationTask
    from imexjax.train import ArraySource, Loader, TrainingDivergedError, train_and_evaluate

    with pytest.raises(TypeError, match="h must be a real scalar step size, got '1.0'"):
        ix.integrate(ix.Euler(), lambda t, y, a: -y, jnp.ones(3), jnp.ones(2), h="1.0")
    images = np.full((8, 8, 8, 1), np.nan, np.float32)
    labels = np.zeros((8, 8, 8), np.int32)
    with pytest.raises(
        TrainingDivergedError, match="in epoch 1 .*; no checkpoint was written. Lower learning_rate"
    ) as error:
        train_and_evaluate(
            TINY.replace(epochs=1),
            tmp_path / "nan",
            task=SegmentationTask(4),
            train_loader=Loader(ArraySource(images, labels), 8, shuffle=True, drop_remainder=True),
            val_loader=Loader(ArraySource(images, labels), 8, shuffle=False, drop_remainder=False),
            in_channels=1,
            progress=False,
        )
    assert error.value.field == "learning_rate"


REFUSE_ANOTHER_NETWORK = """
import sys
import jax, jax.numpy as jnp
from flax import nnx
from imexjax.recipes import load_run
from imexjax.train import ConfigError, RunCheckpoints
workdir = sys.argv[1]
params = nnx.state(load_run(workdir).model, nnx.Param)
leaves, treedef = jax.tree.flatten(params)
leaves[0] = jnp.zeros((*leaves[0].shape[:-1], leaves[0].shape[-1] + 1))  # one more output channel
with RunCheckpoints(workdir + "/checkpoints") as checkpoints:
    try:
        checkpoints.restore_newest_intact({"params": jax.tree.unflatten(treedef, leaves)})
    except ConfigError as error:
        print(error)
"""


def test_a_checkpoint_of_another_network_is_refused_in_one_line_before_any_array_is_read(finished, tmp_path):
    workdir = copy_of(finished, tmp_path)
    before = files_but_the_lock(workdir)
    done = subprocess.run(
        [sys.executable, "-c", REFUSE_ANOTHER_NETWORK, str(workdir)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"checkpoint \S+/checkpoints/2 holds the params of another network \(\S+: stored \(\d+(, \d+)*\), this "
        r"network \(\d+(, \d+)*\)\): move \S+/checkpoints away to train from scratch, or resume with the config "
        r"and imexjax version that wrote it\n",
        done.stdout,
    ), done.stdout
    assert "Traceback" not in done.stderr  # no array read abandoned into a closed event loop
    assert files_but_the_lock(workdir) == before  # nothing set aside as damaged
