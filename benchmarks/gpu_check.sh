#!/usr/bin/env bash
# On the GPU machine: the GPU tests, then the benchmarks' GPU cases (--gpu-only), JSON under $OUT.
#
#   bash benchmarks/gpu_check.sh                      # everything (tests + every benchmark)
#   bash benchmarks/gpu_check.sh tests wasserstein_1d estimators    # a subset, in this order
#
# Parts: tests, wasserstein_1d, sinkhorn, auction, estimators. One device call may run at most
# 10 minutes and the machine goes back 30 s after a call, so a session with a GPU splits the work
# into two full calls (docs/gpu_runbook.md):
#   call 1: DEADLINE=560 BENCH_TIMEOUT=330 bash benchmarks/gpu_check.sh sinkhorn auction
#   call 2: DEADLINE=560 bash benchmarks/gpu_check.sh wasserstein_1d estimators tests
# Each bench gets BENCH_TIMEOUT seconds (default 240; 520 when the call runs a single benchmark),
# never more than what is left of DEADLINE.
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
# Everything is written straight under $OUT as it is produced (the device tool returns at most 8
# files; a call killed at its time limit still returns what is there):
#   bench_<part>.json          each benchmark's JSON, rewritten after every case (Checkpoint)
#   gpu_check_<parts>.log      the tests' and benchmarks' output, appended as they run
#   gpu_results_<parts>.json   all of the above merged, at the end (if the script gets there)
# DEADLINE (seconds, default 560) bounds the whole script: each step gets at most what is left.
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
T0=$SECONDS
DEADLINE=${DEADLINE:-560}
left() { echo $(( DEADLINE - (SECONDS - T0) )); }
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
# JAX (OTT-JAX peer) must not grab 75% of the GPU up front: CuPy shares the device
export XLA_PYTHON_CLIENT_PREALLOCATE=false
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(tests wasserstein_1d sinkhorn auction estimators)
tag=$(IFS=-; echo "${parts[*]}")
LOG="$OUT/gpu_check_$tag.log"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$LOG"
date -u +"%Y-%m-%d %H:%M:%S UTC" | tee -a "$LOG"
status=0
flag=--gpu-only
[ "${FULL:-0}" = 1 ] && flag=--gpu
nb=0; for part in "${parts[@]}"; do [ "$part" != tests ] && nb=$((nb + 1)); done
# one bench alone gets (almost) the whole call; TESTS_TIMEOUT bounds the gpu-marked tests
[ -z "${BENCH_TIMEOUT:-}" ] && { [ "$nb" -le 1 ] && BENCH_TIMEOUT=520 || BENCH_TIMEOUT=240; }
TESTS_TIMEOUT=${TESTS_TIMEOUT:-240}
for part in "${parts[@]}"; do
  budget=$(left)
  if [ "$budget" -le 15 ]; then echo "== $part: skipped, deadline reached" | tee -a "$LOG"; status=1; continue; fi
  if [ "$part" = tests ]; then
    t=$(( TESTS_TIMEOUT < budget ? TESTS_TIMEOUT : budget - 5 ))
    echo "== gpu tests (timeout ${t}s)" | tee -a "$LOG"
    timeout "$t" python3 -m pytest -q -m gpu tests -p no:cacheprovider --durations=10 2>&1 | tee -a "$LOG" \
      || status=1
    continue
  fi
  b=benchmarks/bench_$part.py
  [ -f "$b" ] || { echo "unknown part: $part (tests wasserstein_1d sinkhorn auction estimators)" | tee -a "$LOG"; status=1; continue; }
  t=$(( BENCH_TIMEOUT < budget ? BENCH_TIMEOUT : budget - 5 ))
  echo "== bench_$part $flag (timeout ${t}s)" | tee -a "$LOG"
  timeout "$t" python3 "$b" $flag --out "$OUT" 2>&1 | tee -a "$LOG" \
    || { echo "bench_$part failed or timed out (its JSON holds the cases it finished)" | tee -a "$LOG"; status=1; }
done
python3 - "$OUT" "$tag" "${parts[@]}" <<'PY'
import json, pathlib, sys
out, tag, parts = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
names = {"sinkhorn": "sinkhorn"}
merged = {}
for part in parts:
    if part == "tests":
        continue
    p = out / f"{names.get(part, 'bench_' + part)}.json"
    if p.exists():
        merged[p.stem] = json.loads(p.read_text())
(out / f"gpu_results_{tag}.json").write_text(json.dumps(merged, indent=2))
print("merged:", sorted(merged))
PY
echo "total $(( SECONDS - T0 )) s" | tee -a "$LOG"
exit $status
