"""Seconds to build each Q-tips preset's network: one compiled call against the eager constructor.

    python benchmarks/startup.py                    # every preset and network kind, compiled and eager
    python benchmarks/startup.py --presets small --ways compiled

Each measurement runs in a fresh process (so nothing compiled earlier is reused, and JAX's
persistent compilation cache is off): `imexjax.train.build_model` (the parameters in one
compiled call) and the same network's eager constructor (one compiled operation per distinct
initializer shape), each until its parameters are ready, for the integrator `imex` and the
U-Net. Prints a table of seconds and the ratio.
"""

import argparse
import json
import os
import subprocess
import sys
import time

PROBE = """
import json, sys, time
import jax
from flax import nnx
from imexjax.models import MultiLevelNet, TimeSteppingNet, UNet
from imexjax.recipes import QTIPS_NETWORK_PRESETS
from imexjax.train import build_model
classes = {"timestepping": TimeSteppingNet, "unet": UNet, "multilevel": MultiLevelNet}
preset, network, way = sys.argv[1:]
config = QTIPS_NETWORK_PRESETS[(preset, network)]
config = config if network == "unet" else config.replace(integrator="imex")
start = time.perf_counter()
if way == "compiled":
    model = build_model(config, in_channels=1, num_outputs=4)
else:
    model = classes[network](in_channels=1, num_outputs=4, rngs=nnx.Rngs(config.seed), **config.model_options())
jax.block_until_ready(nnx.state(model))
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="tiny,small,paper", help="comma-separated presets (default all)")
    parser.add_argument("--networks", default="timestepping,unet,multilevel", help="network kinds (default all)")
    parser.add_argument("--ways", default="compiled,eager", help="compiled and/or eager (default both)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    if not set(args.ways.split(",")) <= {"compiled", "eager"}:
        parser.error("--ways takes compiled, eager or both")
    return args


def build_seconds(preset: str, network: str, way: str) -> float:
    """Seconds `way` takes to build the network in a fresh process, the compilation cache off."""
    environment = {**os.environ, "JAX_ENABLE_COMPILATION_CACHE": "false"}
    command = [sys.executable, "-c", PROBE, preset, network, way]
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if finished.returncode != 0:
        raise SystemExit(
            f"error: building {preset}/{network} ({way}) failed: {finished.stderr.strip().splitlines()[-1]}"
        )
    return json.loads(finished.stdout.strip().splitlines()[-1])["seconds"]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    ways = args.ways.split(",")
    load = os.getloadavg()[0]
    results = {}
    for preset in args.presets.split(","):
        for network in args.networks.split(","):
            results[f"{preset}/{network}"] = {way: build_seconds(preset, network, way) for way in ways}
    print(f"build_model, seconds to ready parameters (load average {load:.2f} before, {os.getloadavg()[0]:.2f} after)")
    print("| preset / network | " + " | ".join(ways) + (" | eager / compiled |" if len(ways) == 2 else " |"))
    print("|---|" + "---:|" * (len(ways) + (len(ways) == 2)))
    for name, times in results.items():
        cells = [f"{times[way]:.2f}" for way in ways]
        if len(ways) == 2:
            cells.append(f"{times['eager'] / times['compiled']:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        print(json.dumps({"load": load, "time": time.time(), "results": results}))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
