#!/usr/bin/env bash
# Downloads, into .whl/ (ignored by git), the wheels imexjax needs on the GPU machine beyond its
# image (Python 3.12, x86-64, JAX, flax, optax, orbax, diffrax, h5py, matplotlib, tqdm, torch
# preinstalled; no network): grain and the two packages of grain's that the image lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
platforms=()
for tag in manylinux_2_39 manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 \
           manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl grain==0.2.18 array-record==0.8.6 portpicker==1.6.0
ls -l .whl
