"""The comparison protocol: equal sizes at `small`, a selection split apart from train and val, the driver."""

import json
import pathlib

import numpy as np
import pytest
from flax import nnx
from helpers import load_script

from imexjax.data.qtips import qtips_splits
from imexjax.models import count_parameters
from imexjax.recipes import nyu_config, open_depth_data, qtips_config, qtips_selection_split
from imexjax.train import ConfigError, build_model

ROWS = [("timestepping", "imex"), ("timestepping", "euler"), ("unet", "imex"), ("multilevel", "imex")]
ROWS += [("multilevel", "euler")]


@pytest.mark.parametrize("preset, in_channels, outputs", [(qtips_config, 1, 4), (nyu_config, 3, 1)])
def test_small_presets_of_every_network_are_within_15_percent_of_the_largest(preset, in_channels, outputs):
    counts = {}
    for network, integrator in ROWS:
        config = preset("small", network).replace(integrator=integrator)
        model = nnx.eval_shape(lambda c=config: build_model(c, in_channels=in_channels, num_outputs=outputs))
        counts[config.label] = count_parameters(model)["total"]
    assert min(counts.values()) >= 0.85 * max(counts.values()), counts
    if preset is qtips_config:
        assert counts["IMEX"] == 20_084 and counts["U-Net"] == 17_230 and counts["multilevel IMEX"] == 18_916


def test_the_selection_split_shares_no_image_with_train_or_val():
    splits = qtips_splits(seed=0, num_train=256, num_val=64)
    select_images, select_labels = qtips_selection_split(0, 64)
    assert select_images.shape == (64, 64, 64) and np.array_equal(qtips_selection_split(0, 64)[0], select_images)
    for seed in (0, 1, 2):  # the reported runs' seeds
        for images, _ in qtips_splits(seed=seed, num_train=256, num_val=64).values():
            assert not (select_images[:, None] == images[None]).all(axis=(2, 3)).any()
    assert set(np.unique(select_labels)) == {0, 1, 2, 3} and not np.array_equal(select_images, splits["val"][0])


def test_a_select_run_evaluates_on_the_selection_split():
    from imexjax.recipes import load_qtips_data

    config = qtips_config("tiny").replace(eval_split="select")
    data = load_qtips_data(config, None)
    assert np.array_equal(data["val"][0], qtips_selection_split(config.seed, config.num_val)[0])
    assert np.array_equal(data["train"][0], load_qtips_data(qtips_config("tiny"), None)["train"][0])
    with pytest.raises(ConfigError, match="eval_split select needs generated data") as caught:
        load_qtips_data(config, "/somewhere")
    assert caught.value.fields == ("eval_split", "data_dir")


def test_the_selection_split_is_drawn_at_the_runs_image_size():
    from imexjax.recipes import load_qtips_data

    config = qtips_config("tiny").replace(eval_split="select", image_size=32, num_train=4, num_val=4)
    data = load_qtips_data(config, None)
    assert data["train"][0].shape == data["val"][0].shape == (4, 32, 32)
    assert np.array_equal(data["val"][0], qtips_selection_split(config.seed, 4, 32)[0])


def test_depth_selection_rooms_differ_and_need_synthetic_data():
    config = nyu_config("tiny")
    _, val, _ = open_depth_data(config, None, format="synthetic")
    _, select, identity = open_depth_data(config.replace(eval_split="select"), None, format="synthetic")
    assert len(select) == len(val) and not np.array_equal(select[0][1], val[0][1])
    assert identity["num_val"] == config.num_val
    with pytest.raises(ConfigError, match="eval_split select needs format synthetic") as caught:
        open_depth_data(config.replace(eval_split="select"), "/somewhere", format="fastdepth")
    assert caught.value.fields == ("eval_split", "format")


def test_driver_prints_the_search_then_chooses_on_the_selection_score(tmp_path, capsys):
    protocol = load_script("experiments/protocol.py")
    argv = ["--rows", "imex,unet", "--lrs", "1e-3,1e-2", "--seeds", "0,1", "--root", str(tmp_path)]
    assert protocol.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("--eval-split select --epochs 10") == 8 and "--network unet --norm batch --lr 0.01" in out
    assert "# unet: after its search" in out and "| U-Net | pending |" in out
    scores = {"imex": [0.5, 0.7, 0.6, 0.65], "unet": [0.6, 0.4, 0.3, 0.75]}
    for row, row_scores in scores.items():
        choices = [(norm, lr) for norm in ("channel", "batch") for lr in ("0.001", "0.01")]
        for (norm, lr), iou in zip(choices, row_scores, strict=True):
            folder = tmp_path / "search" / f"{row}-{norm}-lr{lr}"
            folder.mkdir(parents=True)
            (folder / "metrics.json").write_text(json.dumps({"val_iou": iou}))
    for seed, iou in [(0, 0.8), (1, 0.9)]:
        final = tmp_path / "final" / f"imex-channel-lr0.01-s{seed}"
        final.mkdir(parents=True)
        metrics = {
            "val_iou": iou,
            "val_iou_per_class": [iou, 0.5, 1.0],
            "params": 20084,
            "seconds": 100.0,
            "epochs": 20,
        }
        (final / "metrics.json").write_text(json.dumps(metrics))
    assert protocol.main(argv) == 0
    out = capsys.readouterr().out
    assert "--network timestepping --integrator imex --norm channel --lr 0.01 --seed 1" in out
    assert "--network unet --norm batch --lr 0.01 --seed 0" in out
    assert "--eval-split" not in out.split("# 2.")[1].split("|")[0]
    assert (
        "| IMEX | 20,084 | channel, 0.01 | 0.700 | 0.850 ± 0.071 (0.800, 0.900) | 0.850 / 0.500 / 1.000 | 2/2 | 5.0 |"
        in out
    )
    assert "| U-Net | pending | batch, 0.01 | 0.750 | pending | pending | 0 | pending |" in out
    for norm, iou in [("channel", 0.5), ("batch", 0.9)]:  # a wider search moves IMEX's choice
        folder = tmp_path / "search" / f"imex-{norm}-lr0.03"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps({"val_iou": iou}))
    assert protocol.main(["--rows", "imex", "--lrs", "1e-3,1e-2,3e-2", *argv[4:]]) == 0
    out = capsys.readouterr().out
    assert "--norm batch --lr 0.03 --seed 0 --workdir " + str(tmp_path / "final" / "imex-batch-lr0.03-s0") in out
    assert (
        "| IMEX | pending | batch, 0.03 | 0.900 | pending | pending | 0 | pending |" in out
    )  # the old finals are not reused


def test_driver_passes_the_image_size_to_every_run_and_keeps_sizes_in_roots_of_their_own(tmp_path, capsys, monkeypatch):
    protocol = load_script("experiments/protocol.py")
    monkeypatch.chdir(tmp_path)
    argv = ["--rows", "multilevel-imex,unet", "--lrs", "1e-2", "--norms", "batch", "--seeds", "0,1", "--image-size"]
    args = protocol.parse_args([*argv, "128"])
    assert args.root == pathlib.Path("runs/protocol-qtips-small-128px")
    assert (
        protocol.parse_args(argv[:-1]).root
        == protocol.parse_args([*argv, "64"]).root
        == args.root.with_name("protocol-qtips-small")
    )
    search = args.root / "search" / "multilevel-imex-batch-lr0.01"
    search.mkdir(parents=True)
    (search / "metrics.json").write_text(json.dumps({"val_iou": 0.9, "image_size": 128}))
    assert protocol.main([*argv, "128"]) == 0
    commands = [line for line in capsys.readouterr().out.splitlines() if "qtips.py " in line]
    assert len(commands) == 4  # two searches, the two finals of multilevel IMEX
    assert all(command.split("--image-size ")[1].split()[0] == "128" for command in commands)
    assert all(str(args.root) in command for command in commands)
    assert not any(
        "--image-size" in " ".join(run.argv) for _, run in protocol.search_runs(protocol.parse_args([]), "imex")
    )
    old = tmp_path / "old"
    (old / "final" / "imex-batch-lr0.01-s0").mkdir(parents=True)
    (old / "final" / "imex-batch-lr0.01-s0" / "metrics.json").write_text(json.dumps({"val_iou": 0.99}))
    for extra, message in [
        (["--image-size", "128"], "holds runs at 64x64"),
        (["--root", str(args.root)], "holds runs at 128x128"),
    ]:
        root = ["--root", str(old)] if "--image-size" in extra else []
        with pytest.raises(SystemExit) as exited:
            protocol.parse_args([*root, *extra])
        assert exited.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith("error: --root ") and message in err and err.count("\n") == 1


def test_driver_refuses_unknown_rows(capsys):
    with pytest.raises(SystemExit):
        load_script("experiments/protocol.py").parse_args(["--rows", "imex,transformer"])
    assert "--rows: unknown network 'transformer'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        load_script("experiments/protocol.py").parse_args(["--norms", "channel,instance"])
    assert "normalization 'instance' is not searched" in capsys.readouterr().err


def test_a_spread_below_a_thousandth_is_shown_to_four_decimals():
    protocol = load_script("experiments/protocol.py")
    assert protocol._mean_and_spread([0.999, 0.9995, 1.0]) == "0.9995 ± 0.0005 (0.9990, 0.9995, 1.0000)"
    assert protocol._mean_and_spread([0.46, 0.456, 0.421]) == "0.446 ± 0.021 (0.460, 0.456, 0.421)"


def test_every_row_searches_batch_norm_too():
    protocol = load_script("experiments/protocol.py")
    args = protocol.parse_args(["--rows", "imex2,imex,unet,multilevel-rk4,multilevel-euler"])
    norms = {row: {choice[0] for choice, _ in protocol.search_runs(args, row)} for row in args.rows}
    assert norms == dict.fromkeys(args.rows, {"channel", "batch"})


def test_rows_are_read_by_the_models_slug_parser():
    protocol = load_script("experiments/protocol.py")
    assert protocol.row_flags("unet") == ["--network", "unet"]
    assert protocol.row_flags("imex2") == ["--network", "timestepping", "--integrator", "imex2"]
    assert protocol.row_flags("multilevel-euler") == ["--network", "multilevel", "--integrator", "euler"]
    assert [protocol.row_label(r) for r in ("unet", "imex", "multilevel-euler")] == [
        "U-Net",
        "IMEX",
        "multilevel ResNet",
    ]


def test_driver_passes_a_training_count_to_every_run_in_a_root_of_its_own(tmp_path, capsys, monkeypatch):
    protocol = load_script("experiments/protocol.py")
    monkeypatch.chdir(tmp_path)
    argv = ["--rows", "unet", "--lrs", "1e-2", "--norms", "batch", "--image-size", "256", "--num-train", "256"]
    args = protocol.parse_args(argv)
    assert args.root == pathlib.Path("runs/protocol-qtips-small-256px-n256")
    assert all(run.argv[run.argv.index("--num-train") + 1] == "256" for _, run in protocol.search_runs(args, "unet"))
    search = args.root / "search" / "unet-batch-lr0.01"
    search.mkdir(parents=True)
    (search / "metrics.json").write_text(json.dumps({"val_iou": 0.5, "image_size": 256, "num_train": 1024}))
    with pytest.raises(SystemExit) as exited:
        protocol.parse_args(argv)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "holds runs on 1024 training images" in err and err.count("\n") == 1
    with pytest.raises(SystemExit):
        protocol.parse_args(["--task", "depth", "--num-train", "8"])
