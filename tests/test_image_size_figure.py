"""`experiments/image_size.py`: IoU per network against image size from protocol roots, beside the cost lines."""

import json
import statistics

from helpers import load_script

ROWS = ("multilevel-imex", "unet")
IOU = {
    (64, "multilevel-imex"): (0.90, 0.94),
    (64, "unet"): (0.80, 0.86),
    (128, "multilevel-imex"): (0.95, 0.99),
    (128, "unet"): (0.70, 0.76),
}


def write_root(root, size, *, recorded_size=None, resolution_only=False):
    """A protocol root at `size`: 2 rows x 2 seeds of finals (and an unfinished run, which does not count)."""
    for row in ROWS:
        for seed, iou in enumerate(IOU[size, row]):
            run = root / "final" / f"{row}-batch-lr0.01-s{seed}"
            run.mkdir(parents=True)
            trained = recorded_size or size
            metrics = {"val_iou": iou, "params": 1000, "resolution": [trained, trained]}
            if not resolution_only:
                metrics["image_size"] = trained
            (run / "metrics.json").write_text(json.dumps(metrics))
    (root / "final" / "imex-batch-lr0.01-s0").mkdir()  # still training: no metrics.json
    return root


def write_costs(path):
    lines = [
        {
            "network": network,
            "integrator": integrator,
            "label": label,
            "size": size,
            "epoch_s": seconds * size / 64,
            "compile_s": 2.0,
            "temp_bytes": 2**20 * size,
            "peak_rss_bytes": 2**21 * size,
            "params": 1000,
        }
        for network, integrator, label, seconds in (
            ("multilevel", "imex", "multilevel IMEX", 3.0),
            ("unet", "imex", "U-Net", 1.0),
        )
        for size in (64, 128, 256, 512)
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_the_figure_and_the_iou_table_give_mean_and_sd_over_seeds(tmp_path, capsys):
    roots = [f"{size}={write_root(tmp_path / f'p{size}', size, resolution_only=size == 64)}" for size in (64, 128)]
    out = tmp_path / "figures" / "size.png"
    argv = ["--root", roots[0], "--root", roots[1], "--costs", str(write_costs(tmp_path / "c.jsonl"))]
    code = load_script("experiments/image_size.py").main(
        [*argv, "--rows", "multilevel-imex,unet,imex", "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert out.stat().st_size > 10_000
    iou_part, cost_part = printed.split("Cost per network")
    lines = {line.split(" | ")[0]: line for line in iou_part.splitlines() if line.startswith("| ")}
    for row, label in (("multilevel-imex", "| multilevel IMEX"), ("unet", "| U-Net")):
        for size in (64, 128):
            scores = IOU[size, row]
            cell = f"{statistics.mean(scores):.3f} ± {statistics.stdev(scores):.3f} (n=2)"
            assert cell in lines[label], (size, row, lines[label])
    assert "| IMEX | pending | pending |" in iou_part
    assert "skipped at 64 px (no finished final runs): imex" in printed
    assert "| U-Net | 1,000 | 1.0 | 2.0 | 4.0 | 8.0 | 2.0 | 256 | 512 |" in cost_part  # compile and memory at 256
    assert printed.strip().endswith(f"figures: {out}")


def test_a_run_at_another_size_than_its_root_is_a_one_line_error(tmp_path, capsys):
    root = write_root(tmp_path / "p128", 128, recorded_size=64)
    out = tmp_path / "size.png"
    code = load_script("experiments/image_size.py").main(
        ["--root", f"128={root}", "--costs", str(write_costs(tmp_path / "c.jsonl")), "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "trained at 64x64, not at the 128x128 of --root 128=" in err
    assert not out.exists()


def test_reach_is_the_whole_image_at_64_and_fixed_by_the_unets_levels_at_128(tmp_path, capsys):
    roots = [f"{size}={write_root(tmp_path / f'p{size}', size)}" for size in (64, 128)]
    argv = ["--root", roots[0], "--root", roots[1], "--costs", str(write_costs(tmp_path / "c.jsonl"))]
    code = load_script("experiments/image_size.py").main(
        [*argv, "--rows", "unet", "--reach", "--out", str(tmp_path / "size.png")]
    )
    printed = capsys.readouterr().out
    assert code == 0
    reach_part = printed.split("Reach of the centre output pixel")[1]
    assert "| network | reach at 64 px | reach at 128 px |" in reach_part
    line = next(line for line in reach_part.splitlines() if line.startswith("| U-Net |"))
    at_64, at_128 = (int(cell) for cell in line.strip(" |").split(" | ")[1:])
    assert at_64 == 64  # 4 levels see the whole 64x64 image
    assert 64 < at_128 < 128  # the same levels, in pixels, cover part of 128x128
