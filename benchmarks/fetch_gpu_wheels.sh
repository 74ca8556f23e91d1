#!/usr/bin/env bash
# Download, into .whl/ (git-ignored), the wheels the GPU machine lacks, for CPython 3.12 on
# x86-64 Linux. Run it here (with network) before a GPU session, then pass carry [".whl"] to the
# device run; benchmarks/gpu_check.sh installs them with pip --no-index into /tmp/site.
#
# The GPU machine has numpy, scipy, numba, numba-cuda, cupy, torch, jax, pytest, hypothesis and
# tqdm. It lacks: pot (benchmark peer; its deps numpy/scipy are there), array-api-compat (optional
# for the library since the GPU review, still used by some peers), autograd (toy GAN kit),
# universal-divergence (estimator peer). geomloss (needs torch + pykeops-free fallback) and
# ott-jax are optional peers: fetched when a wheel exists, skipped otherwise.
# pip's --platform accepts pure-python (py3-none-any) wheels too, so one command does all.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
FLAGS=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp
       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
       --platform manylinux2014_x86_64 -d .whl -q)
status=0
for pkg in pot array-api-compat autograd; do
  python3 -m pip download "${FLAGS[@]}" "$pkg" || { echo "REQUIRED wheel failed: $pkg"; status=1; }
done
# universal-divergence is published as an sdist only (pure python): build its wheel here
python3 -m pip wheel --no-deps --no-build-isolation -q -w .whl universal-divergence \
  || { echo "REQUIRED wheel failed: universal-divergence"; status=1; }
for pkg in geomloss ott-jax; do
  python3 -m pip download "${FLAGS[@]}" "$pkg" || echo "optional wheel not fetched: $pkg"
done
ls -la .whl
du -sh .whl
exit $status
