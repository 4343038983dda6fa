"""Accuracy and cost against image size on Q-tips: the protocol's IoU per network beside its seconds per epoch.

    python experiments/image_size.py --recorded experiments/results/qtips_protocol_64.json \\
        --root 128=runs/protocol-qtips-small-128px --root 256=runs/protocol-qtips-small-256px

Left panel: the validation IoU of each network's final runs (mean ± sample sd over the seeds
found) against the image size. A size comes from a protocol root (`--root SIZE=PATH`, what
`python experiments/protocol.py --image-size SIZE --run` writes: ROOT/final/ROW-NORM-lrLR-sSEED/
metrics.json) or from a JSON file of recorded finals whose run folders are elsewhere
(`--recorded`, e.g. experiments/results/qtips_protocol_64.json). Every run must have been
trained at its root's SIZE (metrics.json `image_size` and `resolution`; a run that records
neither was trained at 64). Sizes and networks without finished finals are skipped, and the
output says which. Where a row holds finals at more than one choice (a wider search changed
it), the choice of its best finished search run is taken, as the protocol does.

Right panel: training seconds per epoch against the image size, from the cost measurements of
`benchmarks/qtips_step.py` (`--costs`, one JSON object per line, one device).

With `--reach`, also each network's reach at every size: the side, in pixels, of the square of
input pixels on which the centre output pixel depends at all (a nonzero gradient; the `small`
preset's network, untrained, on 4 random images; `imexjax.analysis.receptive_field` with
threshold 0). It is fixed by the architecture: a U-Net's by its levels, a ResNet's by its depth;
an implicit step reaches the whole image at every size.

Prints the IoU table, the cost table (parameters, seconds per epoch at every size, compile
time, XLA temporaries and peak resident memory at 256), the reach table if asked, and the
figure's path.
"""

import argparse
import pathlib
import sys

import _interrupts  # noqa: F401  (before JAX: from here on Ctrl-C prints one line and exits 130)
import jax
import numpy as np
from _image_size_data import Scores, read_costs, recorded_scores, root_scores

from imexjax._figures import figures_line, log_axis, new_figure, save_figure
from imexjax.analysis import receptive_field
from imexjax.models import network_label, parse_network_slug
from imexjax.recipes import OneLineErrorParser, qtips_config, run_command
from imexjax.train import ConfigError, build_model

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_ROWS = ("multilevel-imex", "imex", "multilevel-euler", "unet")
DEFAULT_COSTS = ROOT / "benchmarks" / "results" / "image_size_costs.jsonl"
DEFAULT_OUT = ROOT / "docs" / "figures" / "image_size_qtips.png"
DETAIL_SIZE = 256
"""The size whose compile time and memory the cost table gives (the largest measured below it otherwise)."""
MIB = 2**20
REACH_IMAGES = 4


def row_label(row: str) -> str:
    """`multilevel-imex` -> `multilevel IMEX`, `unet` -> `U-Net` (`imexjax.models.network_label`)."""
    network, integrator = parse_network_slug(row)
    return network_label(network, integrator or "")


def row_colour(row: str, rows: tuple[str, ...]) -> str:
    """One colour per network, the same in both panels and for every `--rows`: the default rows keep theirs."""
    order = list(DEFAULT_ROWS) + [r for r in rows if r not in DEFAULT_ROWS]
    return f"C{order.index(row)}"


def format_scores(scores: Scores) -> str:
    """`mean ± sd (n=N)`, to 3 decimals, or 4 where the spread is below 0.001 (as the protocol's table)."""
    digits = 3 if scores.sd >= 1e-3 else 4
    spread = f" ± {scores.sd:.{digits}f}" if len(scores.iou) > 1 else ""
    return f"{scores.mean:.{digits}f}{spread} (n={len(scores.iou)})"


def iou_table(rows: tuple[str, ...], sizes: list[int], ious: dict[int, dict[str, Scores]]) -> str:
    lines = [
        "| network | " + " | ".join(f"IoU at {size} px" for size in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for row in rows:
        cells = [format_scores(ious[size][row]) if row in ious[size] else "pending" for size in sizes]
        lines.append(f"| {row_label(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detail_size(costs: dict[str, dict[int, dict]]) -> int | None:
    """`DETAIL_SIZE` where any row was measured there, else the largest size measured below it, else the smallest."""
    sizes = sorted({size for by_size in costs.values() for size in by_size})
    if not sizes:
        return None
    below = [size for size in sizes if size <= DETAIL_SIZE]
    return below[-1] if below else sizes[0]


def cost_table(rows: tuple[str, ...], costs: dict[str, dict[int, dict]]) -> str:
    sizes = sorted({size for by_size in costs.values() for size in by_size})
    detail = detail_size(costs)
    lines = [
        "| network | params | "
        + " | ".join(f"s/epoch at {size}" for size in sizes)
        + f" | compile s at {detail} | XLA temp MiB at {detail} | peak RSS MiB at {detail} |",
        "|---|---:|" + "---:|" * (len(sizes) + 3),
    ]
    for row in rows:
        if row not in costs:
            continue
        by_size = costs[row]
        params = next(iter(by_size.values())).get("params")
        cells = [f"{params:,}" if params else "-"]
        cells += [_seconds(by_size[size]["epoch_s"]) if size in by_size else "-" for size in sizes]
        at = by_size.get(detail, {})
        cells.append(f"{at['compile_s']:.1f}" if at.get("compile_s") is not None else "-")
        for key in ("temp_bytes", "peak_rss_bytes"):
            cells.append(f"{at[key] / MIB:,.0f}" if at.get(key) is not None else "-")
        lines.append(f"| {row_label(row)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reach(row: str, size: int) -> int:
    """The side (px) of the input square on which the centre output pixel of `row`'s `small` network depends at SIZE.

    Args:
      row: a network slug (`multilevel-imex`, `unet`, ...).
      size: the image side.

    Returns:
      The number of rows of input pixels with a nonzero gradient of the centre output pixel
      in any of `REACH_IMAGES` random images (untrained network, all classes; several images,
      since a ReLU that is off at the centre of one image can hide the field), at most `size`.
    """
    network, integrator = parse_network_slug(row)
    config = qtips_config("small", network)
    if integrator:
        config = config.replace(integrator=integrator)
    model = build_model(config, in_channels=1, num_outputs=4)
    model.eval()
    images = jax.random.normal(jax.random.key(0), (REACH_IMAGES, size, size, 1))
    influence = np.asarray(receptive_field(model, images, classes="all", threshold=0.0).influence)
    rows = np.flatnonzero(influence.reshape(-1, size, size).max(axis=(0, 2)) > 0)
    return int(rows[-1] - rows[0] + 1)


def reach_table(rows: tuple[str, ...], sizes: list[int]) -> str:
    lines = [
        "| network | " + " | ".join(f"reach at {size} px" for size in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for row in rows:
        lines.append(f"| {row_label(row)} | " + " | ".join(f"{reach(row, size)}" for size in sizes) + " |")
    return "\n".join(lines)


def _shown(path: pathlib.Path) -> str:
    """`path` relative to the repository where it lies inside it (the defaults), else as given."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _seconds(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def plot(
    path: pathlib.Path,
    rows: tuple[str, ...],
    ious: dict[int, dict[str, Scores]],
    costs: dict[str, dict[int, dict]],
) -> None:
    """The two panels: IoU (mean ± sd) and seconds per epoch (log), each against the image size (log 2)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    cost_sizes = {size for by_size in costs.values() for size in by_size}
    sizes = sorted(set(ious) | cost_sizes)
    fig = new_figure(figsize=(11, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    pending = [size for size in sorted(ious) if not ious[size]]
    lowest = 1.0
    for index, row in enumerate(rows):
        points = sorted((size, by_row[row]) for size, by_row in ious.items() if row in by_row)
        if not points:
            continue
        x = [size * 2 ** (0.04 * (index - (len(rows) - 1) / 2)) for size, _ in points]  # side by side
        means = [scores.mean for _, scores in points]
        sds = [scores.sd for _, scores in points]
        lowest = min(lowest, *(m - s for m, s in zip(means, sds, strict=True)))
        left.errorbar(
            x,
            means,
            yerr=sds,
            color=row_colour(row, rows),
            marker=_MARKERS[index % len(_MARKERS)],
            capsize=4,
            label=row_label(row),
        )
    span = max(1.0 - lowest, 0.02)
    left.set_ylim(lowest - 0.15 * span, 1.0 + 0.1 * span)
    left.set_ylabel("validation IoU (mean ± sd over seeds)")
    waiting = f" (none yet at {', '.join(f'{size} px' for size in pending)})" if pending else ""
    left.set_title(f"accuracy: the protocol's finals{waiting}", fontsize=10)
    seconds = []
    for index, row in enumerate(rows):
        if row not in costs:
            continue
        x = sorted(costs[row])
        y = [costs[row][size]["epoch_s"] for size in x]
        seconds += y
        right.plot(x, y, color=row_colour(row, rows), marker=_MARKERS[index % len(_MARKERS)], label=row_label(row))
    if seconds:
        first = min(min(by_size) for by_size in costs.values())
        base = min(by_size[first]["epoch_s"] for by_size in costs.values() if first in by_size)
        guide = [size for size in sizes if size >= first]
        base /= 2  # below the cheapest network, so that it hides no curve
        right.plot(
            guide,
            [base * (size / first) ** 2 for size in guide],
            color="0.6",
            linestyle=":",
            label="∝ pixels",
        )
        seconds += [base]
    log_axis(right, seconds)
    right.set_ylabel("seconds per training epoch (one CPU device, log)")
    right.set_title("cost: benchmarks/qtips_step.py, batch 8", fontsize=10)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(sizes, [str(size) for size in sizes])
        ax.set_xlim(sizes[0] / 1.25, sizes[-1] * 1.25)
        ax.set_xlabel("image size (px per side, log)")
        ax.grid(True, which="major", alpha=0.3)
    if left.get_legend_handles_labels()[0]:
        left.legend(loc="best", fontsize=8)
    if seconds:
        right.legend(loc="upper left", fontsize=8)
    fig.suptitle("Q-tips, small preset: IoU and training cost against image size", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)


_MARKERS = ("o", "s", "^", "D", "v", "P")


def parse_root(text: str) -> tuple[int, pathlib.Path]:
    """`SIZE=PATH` -> `(SIZE, PATH)`."""
    size, sep, path = text.partition("=")
    if not sep or not size.isdigit() or not path:
        raise argparse.ArgumentTypeError(f"expected SIZE=PATH (e.g. 128=runs/protocol-qtips-small-128px), got {text!r}")
    return int(size), pathlib.Path(path)


def image_size(args: argparse.Namespace) -> int:
    rows = args.rows
    ious: dict[int, dict[str, Scores]] = {}
    notes: list[str] = []
    for path in args.recorded:
        size, scores = recorded_scores(path, rows)
        if size in ious:
            raise ConfigError(f"size {size} is given twice (--recorded {path} and another input); give it once")
        ious[size] = scores
    for size, root in args.root:
        if size in ious:
            raise ConfigError(f"size {size} is given twice (--root {size}={root} and another input); give it once")
        ious[size], found = root_scores(root, size, rows)
        notes += found
    ious = dict(sorted(ious.items()))
    costs = read_costs(args.costs, rows)
    sizes = list(ious)
    if sizes:
        print("Validation IoU of the protocol's finals (mean ± sample sd over the seeds found, n):\n")
        print(iou_table(rows, sizes, ious))
        for size in sizes:
            missing = [row for row in rows if row not in ious[size]]
            if missing:
                print(f"skipped at {size} px (no finished final runs): {', '.join(missing)}")
        for size in sizes:
            for row, scores in ious[size].items():
                measured = costs.get(row, {}).get(size, {}).get("params")
                if scores.params and measured and scores.params != measured:
                    print(
                        f"note: {row_label(row)} at {size} px has {scores.params:,} parameters in its runs, "
                        f"{measured:,} in --costs"
                    )
        for note in notes:
            print(f"note: {note}")
    else:
        print("no IoU inputs (--root, --recorded): the left panel is empty")
    print(f"\nCost per network ({_shown(args.costs)}; one device, seconds per training epoch):\n")
    print(cost_table(rows, costs))
    no_cost = [row for row in rows if row not in costs]
    if no_cost:
        print(f"no cost lines for: {', '.join(no_cost)}")
    if not sizes and not costs:
        raise ConfigError("nothing to draw: no IoU inputs and no cost lines for --rows")
    if args.reach:
        reach_sizes = sizes or sorted({size for by_size in costs.values() for size in by_size})
        print(
            "\nReach of the centre output pixel (px per side of the input square it depends on; "
            "untrained small presets, 4 random images of each size):\n"
        )
        print(reach_table(rows, reach_sizes))
    plot(args.out, rows, ious, costs)
    print(figures_line([_shown(args.out)]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root",
        type=parse_root,
        action="append",
        default=[],
        metavar="SIZE=PATH",
        help="a protocol root of runs at SIZExSIZE (repeatable)",
    )
    parser.add_argument(
        "--recorded",
        type=pathlib.Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a JSON file of recorded finals at one size (repeatable), e.g. experiments/results/qtips_protocol_64.json",
    )
    parser.add_argument(
        "--costs",
        type=pathlib.Path,
        default=DEFAULT_COSTS,
        help="JSON lines of benchmarks/qtips_step.py (default benchmarks/results/image_size_costs.jsonl)",
    )
    parser.add_argument("--rows", default=",".join(DEFAULT_ROWS), help=f"networks (default {','.join(DEFAULT_ROWS)})")
    parser.add_argument(
        "--out", type=pathlib.Path, default=DEFAULT_OUT, help="the figure (default docs/figures/image_size_qtips.png)"
    )
    parser.add_argument(
        "--reach",
        action="store_true",
        help="also print each network's reach at every size (builds each network; seconds per size)",
    )
    args = parser.parse_args(argv)
    args.rows = tuple(args.rows.split(","))
    for row in args.rows:
        try:
            parse_network_slug(row)
        except ValueError as error:
            parser.error(f"--rows: {error}")
    if len(set(args.rows)) != len(args.rows):
        parser.error("--rows names a network twice")
    if args.out.is_dir():
        parser.error(f"--out {args.out} is a folder; pass the PNG's path")
    return run_command(lambda: image_size(args), parser)


if __name__ == "__main__":
    sys.exit(main())
