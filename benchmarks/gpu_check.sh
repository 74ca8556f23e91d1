#!/usr/bin/env bash
# On the GPU machine: the GPU tests, then the benchmarks' GPU cases (--gpu-only), JSON under $OUT.
#
#   bash benchmarks/gpu_check.sh                      # everything (tests + every benchmark)
#   bash benchmarks/gpu_check.sh tests wasserstein_1d estimators    # a subset, in this order
#
# Parts: tests, wasserstein_1d, sinkhorn, auction, estimators. One device call may run at most
# 10 minutes, so a session with a GPU should split the work into calls of a few parts each, e.g.
#   call 1: tests wasserstein_1d estimators     call 2: sinkhorn     call 3: auction
# (the machine stays warm between calls). Each bench gets BENCH_TIMEOUT seconds (default 240;
# 520 when the call runs a single benchmark).
# The CPU tables come from the dev machine; FULL=1 also runs each benchmark's CPU cases here.
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
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(tests wasserstein_1d sinkhorn auction estimators)
flag=--gpu-only
[ "${FULL:-0}" = 1 ] && flag=--gpu
tag=$(IFS=-; echo "${parts[*]}")
nb=0; for part in "${parts[@]}"; do [ "$part" != tests ] && nb=$((nb + 1)); done
# a bench that runs out of time writes no JSON: one bench alone gets most of the 10-minute call
[ -z "${BENCH_TIMEOUT:-}" ] && { [ "$nb" -le 1 ] && BENCH_TIMEOUT=520 || BENCH_TIMEOUT=240; }
for part in "${parts[@]}"; do
  if [ "$part" = tests ]; then
    echo "== gpu tests"
    python3 -m pytest -q -m gpu tests 2>&1 | tee "$WORK/gpu_tests.log" || status=1
    continue
  fi
  b=benchmarks/bench_$part.py
  [ -f "$b" ] || { echo "unknown part: $part (tests wasserstein_1d sinkhorn auction estimators)"; status=1; continue; }
  echo "== bench_$part $flag"
  timeout "$BENCH_TIMEOUT" python3 "$b" $flag --out "$WORK" > "$WORK/bench_$part.log" 2>&1 \
    || { echo "bench_$part failed"; tail -20 "$WORK/bench_$part.log"; status=1; }
  tail -3 "$WORK/bench_$part.log"
done
python3 - "$WORK" "$OUT" "$tag" <<'PY'
import json, pathlib, sys
work, out, tag = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
merged = {p.stem: json.loads(p.read_text()) for p in sorted(work.glob("*.json"))}
(out / f"gpu_results_{tag}.json").write_text(json.dumps(merged, indent=2))
with open(out / f"gpu_check_{tag}.log", "w") as log:
    for p in sorted(work.glob("*.log")) + [work / "device.txt"]:
        log.write(f"===== {p.name}\n{p.read_text()}\n")
PY
exit $status
