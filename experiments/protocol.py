"""The protocol of the equal-size comparison: a learning-rate search on the selection split, then 3 seeds per row.

    python experiments/protocol.py                     # print the commands (finals once the search has run)
    python experiments/protocol.py --run --jobs 2      # run what is missing, two at a time; rerun to resume
    python experiments/protocol.py --task depth --run  # the same on synthetic rooms (experiments/nyu_depth.py)
    python experiments/protocol.py --image-size 128 --run  # Q-tips at 128x128, in runs/protocol-qtips-small-128px

Every row (a network: `imex`, `euler` (the ResNet), `unet`, `multilevel-imex`, any integrator
name or `multilevel-INTEGRATOR`, as `imexjax.models.parse_network_slug` reads them) gets the
same preset (`--config`, its epochs, batch and optimizer) and the same search: each
normalization of `--norms` (those that do not leak the image's statistics at evaluation:
`channel`, per pixel, and `batch`, running statistics, kept per stage for multi-stage
integrators) and each learning rate of `--lrs`, trained `--search-epochs` epochs at seed 0 and scored on the
selection split (`--eval-split select`, images no run trains or validates on); the pair with
the best selection score (Q-tips: the highest IoU; depth: the lowest RMSE) is then trained at
each seed of `--seeds` for the preset's epochs and scored on the validation split. Runs live in
ROOT/search/ROW-NORM-lrLR and ROOT/final/ROW-NORM-lrLR-sSEED (logs in ROOT/logs); a run
whose metrics.json exists is done, an interrupted one resumes, and a wider search that
changes a row's choice starts that row's finals afresh beside the old ones. ROOT/protocol.md
gets the table: per row the parameters, the chosen normalization and rate, the mean and
standard deviation of the validation score over the seeds with each seed's score, the mean of
a second metric (Q-tips: IoU per class; depth: delta1) and the median seconds per epoch.

`--image-size N` (Q-tips) passes `--image-size N` to every run, so the search, its selection
split and the finals are all at NxN; the default root of a size other than 64 is
runs/protocol-qtips-CONFIG-Npx, and a root whose finished runs are at another size is refused,
so runs of different sizes never stand in for each other. `--num-train N` (Q-tips) trains every
run on N generated images (the same for every row), in a root ending in -nN, checked the same way.
"""

import argparse
import concurrent.futures
import dataclasses
import json
import pathlib
import statistics
import subprocess
import sys

import _interrupts  # noqa: F401  (before JAX: from here on Ctrl-C prints one line and exits 130)

from imexjax.data.qtips import MIN_QTIPS_SIZE, QTIPS_SIZE
from imexjax.models import network_label, parse_network_slug
from imexjax.recipes import OneLineErrorParser, add_compilation_cache_flags

ROOT = pathlib.Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class Task:
    """What the protocol runs for one task: the script, its fixed flags and the score it selects on."""

    script: str
    flags: tuple[str, ...]
    metric: str
    higher_is_better: bool
    also: str
    """A second metric the table reports (mean over seeds; per entry where it is a list)."""


TASKS = {
    "qtips": Task("qtips.py", (), "val_iou", True, "val_iou_per_class"),
    "depth": Task("nyu_depth.py", ("--format", "synthetic"), "val_rmse", False, "val_delta1"),
}
DEFAULT_ROWS = ("imex", "euler", "unet", "multilevel-imex", "multilevel-euler", "imex2")
FAIR_NORMS = ("channel", "batch")
"""The normalizations that give a pixel no statistics of its image at evaluation."""


def row_flags(row: str) -> list[str]:
    """The network flags of a row: `unet`, `multilevel-INTEGRATOR` or an integrator name.

    Raises:
      ValueError: an unknown row (`imexjax.models.parse_network_slug`).
    """
    network, integrator = parse_network_slug(row)
    return ["--network", network] + ([] if integrator is None else ["--integrator", integrator])


def row_label(row: str) -> str:
    """`imex` -> `IMEX`, `unet` -> `U-Net`, `multilevel-euler` -> `multilevel ResNet`."""
    network, integrator = parse_network_slug(row)
    return network_label(network, integrator or "")


@dataclasses.dataclass(frozen=True)
class Run:
    """One training command of the protocol and its workdir."""

    row: str
    workdir: pathlib.Path
    argv: tuple[str, ...]

    @property
    def metrics(self) -> dict | None:
        path = self.workdir / "metrics.json"
        return json.loads(path.read_text()) if path.exists() else None


Choice = tuple[str, float]
"""A search's outcome: `(normalization, learning rate)`."""


def make_run(args: argparse.Namespace, row: str, workdir: pathlib.Path, choice: Choice, seed: int, search: bool) -> Run:
    task = TASKS[args.task]
    norm, lr = choice
    argv = [sys.executable, str(ROOT / task.script), *task.flags, "--config", args.config, *row_flags(row)]
    argv += ["--norm", norm, "--lr", f"{lr:g}", "--seed", str(seed), "--workdir", str(workdir), "--no-progress"]
    if search:
        argv += ["--eval-split", "select"] + (["--epochs", str(args.search_epochs)] if args.search_epochs else [])
    if args.no_compilation_cache:
        argv += ["--no-compilation-cache"]
    elif args.compilation_cache_dir:
        argv += ["--compilation-cache-dir", args.compilation_cache_dir]
    if args.image_size is not None:
        argv += ["--image-size", str(args.image_size)]
    if args.num_train is not None:
        argv += ["--num-train", str(args.num_train)]
    if args.jobs > 1:  # the jobs share the cores already: one device each
        argv += ["--cpu-devices", "1"]
    return Run(row, workdir, tuple(argv))


def search_runs(args: argparse.Namespace, row: str) -> list[tuple[Choice, Run]]:
    choices = [(norm, lr) for norm in args.norms for lr in args.lrs]
    return [
        (choice, make_run(args, row, args.root / "search" / f"{row}-{choice[0]}-lr{choice[1]:g}", choice, 0, True))
        for choice in choices
    ]


def chosen(args: argparse.Namespace, row: str) -> Choice | None:
    """The normalization and rate of the row's best finished search run; None while one is missing."""
    task = TASKS[args.task]
    scores = {choice: run.metrics for choice, run in search_runs(args, row)}
    if any(m is None for m in scores.values()):
        return None
    pick = max if task.higher_is_better else min
    return pick(scores, key=lambda choice: scores[choice][task.metric])


def final_runs(args: argparse.Namespace, row: str, choice: Choice) -> list[Run]:
    name = f"{row}-{choice[0]}-lr{choice[1]:g}"
    return [make_run(args, row, args.root / "final" / f"{name}-s{seed}", choice, seed, False) for seed in args.seeds]


def execute(runs: list[Run], jobs: int, logs: pathlib.Path) -> list[Run]:
    """Runs the unfinished `runs`, `jobs` at a time, each logging to LOGS/NAME.log; returns those that failed."""
    pending = [run for run in runs if run.metrics is None]
    logs.mkdir(parents=True, exist_ok=True)

    def one(run: Run) -> int:
        sys.stdout.write(" ".join(run.argv[1:]) + "\n")  # one write: the threads' lines do not interleave
        sys.stdout.flush()
        with open(logs / f"{run.workdir.parent.name}-{run.workdir.name}.log", "a") as log:
            return subprocess.run(run.argv, stdout=log, stderr=subprocess.STDOUT, check=False).returncode

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        codes = list(pool.map(one, pending))
    return [run for run, code in zip(pending, codes, strict=True) if code != 0]


def table(args: argparse.Namespace) -> str:
    """The protocol's table from the finished runs (pending where a row is not done)."""
    task = TASKS[args.task]
    lines = [
        f"| network | parameters | chosen norm, lr | selection {task.metric} "
        f"| {task.metric} (mean ± std over seeds; each seed) | {task.also} (mean) | seeds done | s/epoch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in args.rows:
        choice = chosen(args, row)
        done = [m for m in (run.metrics for run in final_runs(args, row, choice)) if m is not None] if choice else []
        if not done:
            cells = ["pending"] * 2 if choice is None else [_name(choice), f"{_search_score(args, row, choice):.3f}"]
            lines.append(
                f"| {row_label(row)} | pending | " + " | ".join(cells) + " | pending | pending | 0 | pending |"
            )
            continue
        seconds = statistics.median(m["seconds"] / m["epochs"] for m in done)
        lines.append(
            f"| {row_label(row)} | {done[0]['params']:,} | {_name(choice)} | {_search_score(args, row, choice):.3f} | "
            f"{_mean_and_spread([m[task.metric] for m in done])} | {_mean_of([m[task.also] for m in done])} | "
            f"{len(done)}/{len(args.seeds)} | {seconds:.1f} |"
        )
    return "\n".join(lines)


def _mean_and_spread(scores: list[float]) -> str:
    """`mean ± sd (each score)`, to 3 decimals, or 4 where the spread is below 0.001."""
    spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
    digits = 3 if spread >= 1e-3 else 4
    each = ", ".join(f"{score:.{digits}f}" for score in scores)
    return f"{statistics.mean(scores):.{digits}f} ± {spread:.{digits}f} ({each})"


def _mean_of(values: list[float] | list[list[float]]) -> str:
    """The mean over seeds to 3 decimals; of each entry, joined by ` / `, where the values are lists."""
    if isinstance(values[0], list):
        return " / ".join(f"{statistics.mean(entry):.3f}" for entry in zip(*values, strict=True))
    return f"{statistics.mean(values):.3f}"


def _search_score(args: argparse.Namespace, row: str, choice: Choice) -> float:
    return dict(search_runs(args, row))[choice].metrics[TASKS[args.task].metric]


def _name(choice: Choice) -> str:
    return f"{choice[0]}, {choice[1]:g}"


def check_root_size(root: pathlib.Path, image_size: int, num_train: int | None = None) -> str | None:
    """Why `root` cannot hold the runs of a protocol at `image_size` and `num_train`, or None when it can.

    Every finished run under `root` (`search/*/metrics.json`, `final/*/metrics.json`) must have
    been trained at `image_size` (a run whose metrics record no size was trained at
    `QTIPS_SIZE`) and, where `num_train` is given, on that many images.
    """
    for path in sorted(root.glob("*/*/metrics.json")):
        metrics = json.loads(path.read_text())
        size = metrics.get("image_size", QTIPS_SIZE)
        if size != image_size:
            return (
                f"--root {root} holds runs at {size}x{size} ({path.parent}), not at --image-size {image_size}; "
                "pass another --root, or leave it out for the default of this size"
            )
        if num_train is not None and metrics.get("num_train", num_train) != num_train:
            return (
                f"--root {root} holds runs on {metrics['num_train']} training images ({path.parent}), not on "
                f"--num-train {num_train}; pass another --root, or leave it out for the default of this count"
            )
    return None


def _check_row(row: str) -> None:
    """Raises ValueError, naming `--rows`, unless `row` is a network slug."""
    try:
        parse_network_slug(row)
    except ValueError as error:
        raise ValueError(f"--rows: {error}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=tuple(TASKS), default="qtips", help="qtips (default) or depth")
    parser.add_argument("--rows", default=",".join(DEFAULT_ROWS), help=f"networks (default {','.join(DEFAULT_ROWS)})")
    parser.add_argument("--config", default="small", help="the preset of every run (default small)")
    parser.add_argument("--lrs", default="1e-3,3e-3,1e-2", help="learning rates searched (default 1e-3,3e-3,1e-2)")
    parser.add_argument(
        "--norms",
        default="channel,batch",
        help="normalizations searched (default channel,batch: neither leaks)",
    )
    parser.add_argument(
        "--search-epochs", type=int, default=10, help="epochs of a search run (default 10; 0: the preset's)"
    )
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the final runs (default 0,1,2)")
    parser.add_argument(
        "--image-size",
        type=int,
        metavar="N",
        help=f"Q-tips only: every run on generated NxN images (default the preset's, {QTIPS_SIZE}; at least "
        f"{MIN_QTIPS_SIZE})",
    )
    parser.add_argument(
        "--num-train",
        type=int,
        metavar="N",
        help="Q-tips only: every run on N generated training images (default the preset's)",
    )
    parser.add_argument(
        "--root",
        type=pathlib.Path,
        help="where the runs go (default runs/protocol-TASK-CONFIG, then -Npx for an --image-size other than "
        f"{QTIPS_SIZE} and -nN for a --num-train)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument("--run", action="store_true", help="run what is missing (default: print the commands)")
    add_compilation_cache_flags(parser)  # passed on to every run, which share one cache
    args = parser.parse_args(argv)
    args.rows = tuple(args.rows.split(","))
    try:
        for row in args.rows:
            _check_row(row)
        args.lrs = tuple(float(v) for v in args.lrs.split(","))
        args.seeds = tuple(int(v) for v in args.seeds.split(","))
        args.norms = tuple(args.norms.split(","))
        for norm in args.norms:
            if norm not in FAIR_NORMS:
                raise ValueError(
                    f"normalization {norm!r} is not searched; choose from {', '.join(FAIR_NORMS)} "
                    "(instance and group norms pool over the image and leak the class to every pixel)"
                )
    except ValueError as error:
        parser.error(str(error))
    if args.jobs < 1 or args.search_epochs < 0 or min(args.lrs) <= 0:
        parser.error("--jobs must be >= 1, --search-epochs >= 0 and every learning rate > 0")
    if args.image_size is not None and args.task != "qtips":
        parser.error("--image-size applies to --task qtips; depth runs take their frame size from the preset")
    if args.image_size is not None and args.image_size < MIN_QTIPS_SIZE:
        parser.error(f"--image-size must be at least {MIN_QTIPS_SIZE}, got {args.image_size}")
    if args.num_train is not None and (args.task != "qtips" or args.num_train < 1):
        parser.error(f"--num-train applies to --task qtips and must be a positive count, got {args.num_train}")
    size = "" if args.image_size in (None, QTIPS_SIZE) else f"-{args.image_size}px"
    count = "" if args.num_train is None else f"-n{args.num_train}"
    args.root = args.root or pathlib.Path(f"runs/protocol-{args.task}-{args.config}{size}{count}")
    if args.task == "qtips" and (problem := check_root_size(args.root, args.image_size or QTIPS_SIZE, args.num_train)):
        parser.error(problem)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    searches = [run for row in args.rows for _, run in search_runs(args, row)]
    if not args.run:
        print("# 1. normalization and learning-rate search, scored on the selection split")
        print("\n".join(" ".join(run.argv[1:]) for run in searches))
        print("# 2. final runs at the chosen normalization and rate, scored on the validation split")
        for row in args.rows:
            choice = chosen(args, row)
            if choice is None:
                print(f"# {row}: after its search ({len(args.seeds)} seeds: {','.join(map(str, args.seeds))})")
            else:
                print("\n".join(" ".join(run.argv[1:]) for run in final_runs(args, row, choice)))
        print(table(args))
        return 0
    failed = execute(searches, args.jobs, args.root / "logs")
    finals = [run for row in args.rows if (choice := chosen(args, row)) for run in final_runs(args, row, choice)]
    failed += execute(finals, args.jobs, args.root / "logs")
    text = table(args)
    (args.root / "protocol.md").write_text(text + "\n")
    print(text)
    for run in failed:
        print(f"error: {run.workdir} failed; see {args.root / 'logs'}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
