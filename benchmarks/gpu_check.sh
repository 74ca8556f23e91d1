#!/usr/bin/env bash
# One call on the GPU machine: the GPU tests, then every benchmark with --gpu, JSON under $OUT.
#
# The GPU machine has no network. Packages it lacks travel as wheels in .whl/ (git-ignored,
# about 32 MiB, under the 64 MiB carry limit). Before the GPU session, on a machine with network:
#   bash benchmarks/fetch_gpu_wheels.sh      # pot, array-api-compat, autograd, universal-divergence
#                                            # (+ optional geomloss, ott-jax), CPython 3.12 x86-64
# then run with carry [".whl"] and PYTHONPATH=src:  bash benchmarks/gpu_check.sh
# The library's GPU paths need only CuPy / numba-cuda (array-api-compat is optional); the
# wheels are for the peers in the benchmarks (POT, universal-divergence, ...) and the toy kit.
# A CPU-side pre-flight (no GPU): python -m pytest -q tests/test_gpu_static.py compiles the
# CUDA C and numba-cuda kernels for sm_90 when nvcc / NVVM are installed.
set -uo pipefail
cd "$(dirname "$0")/.."
# The device tool returns at most 8 files: individual results go to a scratch folder and are
# merged into $OUT/gpu_results.json and $OUT/gpu_check.log at the end.
OUT=${OUT:-benchmarks/results/gpu}
WORK=$(mktemp -d)
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$WORK/device.txt"
status=0
python3 -m pytest -q -m gpu tests 2>&1 | tee "$WORK/gpu_tests.log" || status=1
for b in benchmarks/bench_*.py; do
  name=$(basename "$b" .py)
  echo "== $name"
  timeout ${BENCH_TIMEOUT:-240} python3 "$b" --gpu --out "$WORK" > "$WORK/$name.log" 2>&1 \
    || { echo "$name failed"; tail -20 "$WORK/$name.log"; status=1; }
done
python3 - "$WORK" "$OUT" <<'PY'
import json, pathlib, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
merged = {p.stem: json.loads(p.read_text()) for p in sorted(work.glob("*.json"))}
(out / "gpu_results.json").write_text(json.dumps(merged, indent=2))
with open(out / "gpu_check.log", "w") as log:
    for p in sorted(work.glob("*.log")) + [work / "device.txt"]:
        log.write(f"===== {p.name}\n{p.read_text()}\n")
PY
exit $status
