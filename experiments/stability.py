"""Stability of IMEXnet against its ResNet twin on Q-tips: receptive field, growth, attacks.

    python experiments/stability.py --workdir runs/stability                  # trains both, small config
    python experiments/stability.py --config tiny --workdir /tmp/stability    # seconds
    python experiments/stability.py --workdir runs/stability \
        --checkpoints runs/qtips-small-imex-s0 runs/qtips-small-euler-s0   # two finished qtips.py runs

Trains (into WORKDIR/imex and WORKDIR/euler, resumable) or loads an IMEX and a ResNet Q-tips
model, then writes WORKDIR/stability.json and the figures stability_regions.png,
receptive_field.png, perturbation_growth.png and adversarial.png.
"""

import argparse
import json
import math
import pathlib
import sys
import time

import _interrupts  # noqa: F401  (before JAX: from here on Ctrl-C prints one line and exits 130)
import numpy as np

from imexjax.analysis import (
    DEFAULT_EPSILONS,
    plot_adversarial,
    plot_perturbation_growth,
    plot_receptive_fields,
    plot_stability_regions,
    stability_report,
)
from imexjax.models import integrator_label
from imexjax.recipes import (
    QTIPS_NETWORK_PRESETS,
    QTIPS_PRESETS,
    OneLineErrorParser,
    add_compilation_cache_flags,
    add_field_flags,
    enable_cache_from_flags,
    load_run,
    normalize_images,
    qtips_config,
    qtips_validation_images,
    run_command,
    run_qtips,
)
from imexjax.train import ConfigError, FinishedRun, RunDir

COMPARED_INTEGRATORS = ("imex", "euler")
"""The two networks compared, by integrator: IMEXnet and the ResNet (forward Euler)."""
FIGURES = ("stability_regions.png", "receptive_field.png", "perturbation_growth.png", "adversarial.png")


def make_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workdir",
        required=True,
        help="where stability.json and the figures go (and the trained runs, under imex/ and euler/)",
    )
    parser.add_argument(
        "--config", choices=tuple(QTIPS_PRESETS), help="the Q-tips preset to train (default small; tiny takes seconds)"
    )
    parser.add_argument(
        "--checkpoints",
        nargs=2,
        metavar=("IMEX_WORKDIR", "RESNET_WORKDIR"),
        help="load two finished experiments/qtips.py runs instead of training",
    )
    add_field_flags(parser, QTIPS_NETWORK_PRESETS, ("epochs", "seed"))
    parser.add_argument("--data-dir", help="train on a folder in the authors' layout instead of generated data")
    parser.add_argument(
        "--epsilons",
        default=",".join(f"{e:g}" for e in DEFAULT_EPSILONS),
        help="comma-separated L-infinity attack radii in training standard deviations (default %(default)s)",
    )
    parser.add_argument("--pgd-steps", type=int, default=5, help="steps of the PGD attack (default %(default)s)")
    parser.add_argument(
        "--num-images",
        type=int,
        default=8,
        help="validation images for the receptive field, growth and Jacobian (default %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=1e-3,
        help="relative influence above which an input pixel is in the receptive field (default %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_compilation_cache_flags(parser)
    return parser


def parse_args(argv: list[str] | None = None, parser: OneLineErrorParser | None = None) -> argparse.Namespace:
    return (parser or make_parser()).parse_args(argv)


def parse_epsilons(text: str) -> list[float]:
    """`"0,0.1,0.2"` -> [0.0, 0.1, 0.2]; raises ConfigError unless all are finite and >= 0."""
    try:
        epsilons = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--epsilons must be comma-separated numbers, got {text!r}") from None
    if not epsilons or any(not math.isfinite(e) or e < 0 for e in epsilons):
        raise ConfigError(f"--epsilons must be finite numbers >= 0, got {text!r}")
    return epsilons


def check_args(args: argparse.Namespace) -> list[float]:
    """Raises ConfigError for inconsistent options; returns the epsilons."""
    if args.checkpoints and (args.config or args.epochs is not None or args.seed is not None or args.data_dir):
        raise ConfigError("--checkpoints loads finished runs: drop --config, --epochs, --seed and --data-dir")
    if args.pgd_steps < 1:
        raise ConfigError(f"--pgd-steps must be >= 1, got {args.pgd_steps}")
    if args.num_images < 1:
        raise ConfigError(f"--num-images must be >= 1, got {args.num_images}")
    if not (0.0 <= args.threshold < 1.0):
        raise ConfigError(f"--threshold must be in [0, 1), got {args.threshold}")
    if pathlib.Path(args.workdir).is_file():
        raise ConfigError(f"--workdir {args.workdir} is a file; pass a folder")
    return parse_epsilons(args.epsilons)


def trained_runs(args: argparse.Namespace) -> dict[str, FinishedRun]:
    """Trains (or resumes) the IMEX and ResNet runs under WORKDIR/imex and WORKDIR/euler."""
    base = qtips_config(args.config or "small").replace(epochs=args.epochs, seed=args.seed)
    configs = {name: base.replace(integrator=name) for name in COMPARED_INTEGRATORS}
    workdirs = {name: pathlib.Path(args.workdir) / name for name in COMPARED_INTEGRATORS}
    for name in COMPARED_INTEGRATORS:  # refuse a workdir of another configuration before training anything
        RunDir(workdirs[name]).check_config(configs[name])
    for name in COMPARED_INTEGRATORS:
        print(
            f"training {name} ({configs[name].name}, {configs[name].epochs} epochs) in {workdirs[name]}",
            file=sys.stderr,
        )
        run_qtips(configs[name], workdirs[name], data_dir=args.data_dir, progress=not args.no_progress)
    return {name: load_run(workdirs[name]) for name in COMPARED_INTEGRATORS}


def loaded_runs(paths: list[str]) -> dict[str, FinishedRun]:
    """Loads finished runs; the first must be an IMEX run and the second a ResNet (euler) run."""
    runs = {}
    for name, path in zip(COMPARED_INTEGRATORS, paths, strict=True):
        run = load_run(path, task="qtips")
        if run.config.integrator != name:
            raise ConfigError(
                f"{path} holds a {run.config.integrator!r} run; --checkpoints takes an imex run, then an euler run"
            )
        runs[name] = run
    return runs


def validation_set(run: FinishedRun) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run's validation images (uint8), normalized inputs and labels."""
    images, labels = qtips_validation_images(run)
    inputs = normalize_images(images, run.data["input_mean"], run.data["input_std"])
    return images, inputs, labels.astype(np.int32)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    try:
        args = parse_args(argv, parser)
    except SystemExit as exit_:  # a usage error (status 1) or --help (0), as a status
        return int(exit_.code or 0)
    return run_command(lambda: stability(args), parser)


def stability(args: argparse.Namespace) -> int:
    """Trains or loads the two runs, writes the stability report and figures to WORKDIR, prints the table."""
    start = time.perf_counter()
    enable_cache_from_flags(args)
    epsilons = check_args(args)
    runs = loaded_runs(args.checkpoints) if args.checkpoints else trained_runs(args)
    workdir = pathlib.Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    reports, shown_image = {}, None
    for name, run in runs.items():
        print(f"analysing {name}", file=sys.stderr)
        images, inputs, labels = validation_set(run)
        shown_image = images[0] if shown_image is None else shown_image
        weights = run.data.get("class_weights")
        reports[name] = stability_report(
            run.model,
            inputs,
            labels,
            epsilons=epsilons,
            num_images=args.num_images,
            threshold=args.threshold,
            pgd_steps=args.pgd_steps,
            class_weights=None if weights is None else np.asarray(weights, np.float32),
        )

    summary = {
        "epsilons": epsilons,
        "threshold": args.threshold,
        "num_images": args.num_images,
        "pgd_steps": args.pgd_steps,
        "seconds": time.perf_counter() - start,
    }
    for name, run in runs.items():
        m = run.metrics
        summary[name] = {
            "workdir": str(run.workdir),
            "config": run.config.name,
            "epochs": run.config.epochs,
            "geometry": [list(block) for block in run.config.geometry],
            "params": m["params"],
            "val_iou": m["val_iou"],
            **reports[name].to_json(),
        }
    (workdir / "stability.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_stability_regions(workdir / "stability_regions.png")
    first = next(iter(reports.values()))
    plot_receptive_fields(
        workdir / "receptive_field.png",
        shown_image,
        {name: r.receptive_field_map for name, r in reports.items()},
        pixel=(first.receptive_field_map.shape[0] // 2, first.receptive_field_map.shape[1] // 2),
        fractions={name: r.receptive_field for name, r in reports.items()},
        threshold=args.threshold,
    )
    plot_perturbation_growth(
        workdir / "perturbation_growth.png",
        {name: r.growth_by_step for name, r in reports.items()},
        output={name: r.perturbation_growth for name, r in reports.items()},
    )
    plot_adversarial(workdir / "adversarial.png", {name: r.adversarial for name, r in reports.items()})

    print(f"\nstability of IMEX vs ResNet; results in {workdir}/stability.json and {', '.join(FIGURES)}")
    worst = max(epsilons)
    at = epsilons.index(worst)
    header = ["network", "parameters", "IoU", "receptive field", "growth (output)", "Jacobian norm"]
    header += [f"IoU FGSM eps={worst:g}", f"IoU PGD eps={worst:g}"]
    print("| " + " | ".join(header) + " |\n|---|" + "---:|" * (len(header) - 1))
    for name in runs:
        s = summary[name]
        row = [
            integrator_label(name),
            f"{s['params']:,}",
            f"{s['val_iou']:.3f}",
            f"{100 * s['receptive_field']:.0f}%",
            f"{s['perturbation_growth']:.2f}",
            f"{s['jacobian_norm']:.2f}",
            f"{s['adversarial']['fgsm'][at]:.3f}",
            f"{s['adversarial']['pgd'][at]:.3f}",
        ]
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
