"""Reading the IoU and cost inputs of `experiments/image_size.py`: protocol roots, recorded finals, cost lines.

Three sources, each read into plain values for the tables and the figure:

- A protocol root (`python experiments/protocol.py --image-size SIZE --run`): the validation
  IoU (`METRIC`) and parameters of each row's finals, from ROOT/final/ROW-NORM-lrLR-sSEED/
  metrics.json, after checking that every run was trained at SIZE; where a row holds finals at
  more than one choice, the choice of its best finished run under ROOT/search is taken.
- A JSON file of recorded finals (`{"image_size": SIZE, "rows": {ROW: {"iou": [...], "params": N}}}`,
  e.g. experiments/results/qtips_protocol_64.json), for runs whose folders are elsewhere.
- The cost lines of `benchmarks/qtips_step.py` (one JSON object per line): seconds per epoch,
  compile time and memory per network and size.

Unreadable or malformed inputs raise `imexjax.train.ConfigError`, naming the file (see each function's
Raises).
"""

import dataclasses
import json
import pathlib
import re
import statistics

from imexjax.data.qtips import QTIPS_SIZE
from imexjax.models import parse_network_slug
from imexjax.train import ConfigError

METRIC = "val_iou"
_FINAL = re.compile(r"^(?P<row>.+)-(?P<norm>[a-z]+)-lr(?P<lr>[0-9.e+-]+)-s(?P<seed>\d+)$")


@dataclasses.dataclass(frozen=True)
class Scores:
    """One network's finals at one size: the validation IoU of each seed found, its parameters, where they are."""

    iou: tuple[float, ...]
    params: int | None
    source: str

    @property
    def mean(self) -> float:
        return statistics.mean(self.iou)

    @property
    def sd(self) -> float:
        """The sample standard deviation over the seeds (0 for one seed)."""
        return statistics.stdev(self.iou) if len(self.iou) > 1 else 0.0


def _read_json(path: pathlib.Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds no JSON object")
    return data


def run_size(metrics: dict) -> int:
    """The image size a run was trained at: `image_size`, else its square `resolution`, else `QTIPS_SIZE`."""
    if "image_size" in metrics:
        return int(metrics["image_size"])
    resolution = metrics.get("resolution")
    if resolution and resolution[0] == resolution[1]:
        return int(resolution[0])
    if resolution:
        raise ConfigError(f"a run at {resolution[0]}x{resolution[1]} is not square")
    return QTIPS_SIZE


def root_scores(root: pathlib.Path, size: int, rows: tuple[str, ...]) -> tuple[dict[str, Scores], list[str]]:
    """The finished finals of each row under protocol root `root`, and notes on the choices taken.

    Raises:
      ConfigError: `root` is not a folder, a run was trained at another size than `size`, or a
        metrics.json is unreadable or lacks the IoU.
    """
    if not root.is_dir():
        raise ConfigError(f"--root {size}={root}: no such folder")
    groups: dict[str, dict[str, list[tuple[int, dict, pathlib.Path]]]] = {}
    for path in sorted((root / "final").glob("*/metrics.json")):
        match = _FINAL.match(path.parent.name)
        if match is None or match["row"] not in rows:
            continue
        metrics = _read_json(path)
        try:
            trained = run_size(metrics)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None
        resolution = metrics.get("resolution")
        if trained != size or (resolution and list(resolution) != [size, size]):
            shown = f"{trained}x{trained}" if not resolution else f"{resolution[0]}x{resolution[1]}"
            raise ConfigError(
                f"{path.parent} was trained at {shown}, not at the {size}x{size} of --root {size}={root}; "
                "pass each root with the size of its runs"
            )
        if not isinstance(metrics.get(METRIC), int | float):
            raise ConfigError(f"{path} has no {METRIC}")
        choice = f"{match['norm']}-lr{match['lr']}"
        groups.setdefault(match["row"], {}).setdefault(choice, []).append((int(match["seed"]), metrics, path))
    scores, notes = {}, []
    for row, choices in groups.items():
        choice = _choice(root, row, choices)
        if choice is None:
            notes.append(f"{size} px, {row}: finals at {', '.join(sorted(choices))}, none at its search's choice")
            continue
        if len(choices) > 1:
            notes.append(
                f"{size} px, {row}: finals at {', '.join(sorted(choices))}; took {choice}, its search's choice"
            )
        runs = sorted(choices[choice], key=lambda item: item[0])
        scores[row] = Scores(
            tuple(float(m[METRIC]) for _, m, _ in runs), runs[0][1].get("params"), f"{root / 'final'}/{row}-{choice}-s*"
        )
    return scores, notes


def _choice(root: pathlib.Path, row: str, choices: dict) -> str | None:
    """The choice (`NORM-lrLR`) whose finals stand for `row`: the only one, else the best finished search run's."""
    if len(choices) == 1:
        return next(iter(choices))
    searched = {}
    for path in (root / "search").glob(f"{row}-*/metrics.json"):
        match = _FINAL.match(path.parent.name + "-s0")
        if match and match["row"] == row:
            searched[f"{match['norm']}-lr{match['lr']}"] = float(_read_json(path)[METRIC])
    if not searched:
        raise ConfigError(
            f"{root / 'final'} holds {row} finals at {len(choices)} choices ({', '.join(sorted(choices))}) and no "
            "search run says which is the protocol's"
        )
    best = max(searched, key=searched.get)
    return best if best in choices else None


def recorded_scores(path: pathlib.Path, rows: tuple[str, ...]) -> tuple[int, dict[str, Scores]]:
    """`(image size, {row: Scores})` of a JSON file of recorded finals (`{"image_size", "rows": {row: {iou...}}}`).

    Raises:
      ConfigError: the file is unreadable or not of that form.
    """
    data = _read_json(path)
    size, recorded = data.get("image_size"), data.get("rows")
    if not isinstance(size, int) or not isinstance(recorded, dict):
        raise ConfigError(f"--recorded {path} needs an integer image_size and a rows object")
    scores = {}
    for row, entry in recorded.items():
        iou = entry.get("iou") if isinstance(entry, dict) else None
        if not isinstance(iou, list) or not iou or not all(isinstance(v, int | float) for v in iou):
            raise ConfigError(f"--recorded {path}: row {row} needs a non-empty list iou of numbers")
        if row in rows:
            scores[row] = Scores(tuple(float(v) for v in iou), entry.get("params"), str(path))
    return size, scores


def read_costs(path: pathlib.Path, rows: tuple[str, ...]) -> dict[str, dict[int, dict]]:
    """`{row: {size: cost line}}` from `benchmarks/qtips_step.py`'s JSON lines (the last line of a size wins).

    A row maps to lines by network and integrator: `multilevel-imex` to (multilevel, imex),
    `imex` to (timestepping, imex), `unet` to a U-Net line of any integrator.

    Raises:
      ConfigError: the file is unreadable, or a line is not JSON with `network`, `size` and `epoch_s`.
    """
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"--costs {path}: {error.strerror or error}") from None
    wanted = {parse_network_slug(row): row for row in rows}
    costs: dict[str, dict[int, dict]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            cost = json.loads(line)
            key = (cost["network"], None if cost["network"] == "unet" else cost["integrator"])
            size, _ = int(cost["size"]), float(cost["epoch_s"])
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError(f"--costs {path} line {number}: not a cost line of qtips_step.py ({error})") from None
        if key in wanted:
            costs.setdefault(wanted[key], {})[size] = cost
    return costs
