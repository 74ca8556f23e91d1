#!/usr/bin/env bash
# Download, into .whl/ (git-ignored), the wheels the GPU machine lacks, for CPython 3.12 on
# x86-64 Linux. Run it (with network) before a GPU run, then copy .whl/ along with the tree to
# the GPU machine; benchmarks/gpu_check.sh installs them with pip --no-index --no-deps into
# /tmp/site.
#
# The GPU machine has numpy, scipy, numba, numba-cuda, cupy, matplotlib, torch, jax (+ jaxlib,
# ml_dtypes, opt_einsum), pytest, hypothesis and tqdm, and no network. It lacks:
#   required: pot (benchmark peer), array-api-compat (some peers), autograd (toy GAN kit),
#             threadpoolctl (keeps the BLAS pools off numba's threads; without it that is a no-op),
#             universal-divergence (estimator peer) with joblib and cloudpickle, and
#             array-api-strict (without it the array-layer test modules, whose CuPy and
#             torch-CUDA cases are gpu-marked, skip whole);
#   OTT-JAX (the Sinkhorn peer): ott-jax and every dependency jax does not bring: jaxopt,
#             lineax, optax, equinox, jaxtyping, wadler-lindig, absl-py, typing-extensions
#             (ott-jax alone fails with "No module named 'jaxopt'");
#   optional: geomloss.
# pip's --platform accepts pure-python (py3-none-any) wheels too, so one command does all.
# CHECK=1 then installs .whl/ exactly as gpu_check.sh does into a clean CPython 3.12 venv that
# has only the device's numpy/scipy/jax, and imports every peer (and runs a jitted OTT solve);
# CHECK_ONLY=1 does only that, with the .whl/ already there (PY312=... names the interpreter).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
FLAGS=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp
       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
       --platform manylinux2014_x86_64 -d .whl -q)
status=0
if [ "${CHECK_ONLY:-0}" = 1 ]; then CHECK=1; else
for pkg in pot array-api-compat array-api-strict autograd threadpoolctl joblib cloudpickle; do
  python3 -m pip download "${FLAGS[@]}" "$pkg" || { echo "REQUIRED wheel failed: $pkg"; status=1; }
done
# universal-divergence is published as an sdist only (pure python): build its wheel here
python3 -m pip wheel --no-deps --no-build-isolation -q -w .whl universal-divergence \
  || { echo "REQUIRED wheel failed: universal-divergence"; status=1; }
# OTT-JAX and its dependency closure minus what the device has (jax, jaxlib, numpy, scipy, ...)
for pkg in ott-jax==0.6.0 jaxopt lineax optax equinox jaxtyping wadler-lindig absl-py typing-extensions; do
  python3 -m pip download "${FLAGS[@]}" "$pkg" || { echo "OTT-JAX wheel failed: $pkg"; status=1; }
done
python3 -m pip download "${FLAGS[@]}" geomloss || echo "optional wheel not fetched: geomloss"
fi
ls -la .whl
du -sh .whl
if [ "${CHECK:-0}" = 1 ]; then
  # the device's Python: 3.12 with numpy, scipy and jax; then the carried wheels as gpu_check.sh
  if [ -z "${PY312:-}" ]; then
    for c in python3.12 /root/.pyenv/versions/3.12*/bin/python /usr/bin/python3.12; do
      "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { PY312=$c; break; }
    done
  fi
  V=$(mktemp -d)
  "$PY312" -m venv "$V/venv" && "$V/venv/bin/pip" install -q numpy scipy "jax[cpu]" \
    && "$V/venv/bin/pip" install -q --no-index --no-deps --no-compile --target "$V/site" .whl/*.whl \
    && PYTHONPATH="$V/site" JAX_PLATFORMS=cpu "$V/venv/bin/python" benchmarks/fetch_gpu_wheels_check.py \
    || { echo "CHECK failed: the carried wheels do not import on a clean 3.12"; status=1; }
  rm -rf "$V"
fi
exit $status
