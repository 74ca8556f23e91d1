#!/usr/bin/env bash
# On the GPU machine, in ONE device call: the benchmarks' GPU cases (--gpu-only), then the
# gpu-marked tests if time is left; everything under $OUT as it is produced.
#
#   DEADLINE=480 bash benchmarks/gpu_check.sh        # the plan: sinkhorn auction wasserstein_1d
#                                                    #           estimators grad bench tests (this order)
#   bash benchmarks/gpu_check.sh wasserstein_1d tests    # a subset, in this order (a re-run)
#   bash benchmarks/gpu_check.sh sinkhorn batch tests    # `batch` (bench_batch.py --gpu-only:
#                                                        # the batched Sinkhorn) is not in the
#                                                        # default plan; name it
#   DRY_RUN=1 bash benchmarks/gpu_check.sh           # print the plan and the budgets, run nothing
#
# Budget: the GPU machine is lent for about 15 minutes in all (its start, 1-2 min, idle waits
# and the transfers included), at most 10 minutes a command. One command of DEADLINE=480 s
# (8 min) under a 540 s limit leaves room for the start and one short re-run
# (docs/gpu_runbook.md).
# Parts are ordered by value: the Sinkhorn soft-min (its targets have the thinnest margins), the
# GPU auction, 1-D/sliced W, the kNN estimators, the backward pass of a converged Sinkhorn solve
# against one iteration (bench_grad), `kantorovich bench --device gpu --quick` (every suite's GPU
# cases against the peers' GPU forms, values checked first; it gets what is left of its budget
# after the parts before it, keeping the tests' reserve), then every gpu-marked test (the
# torch-CUDA backward among them).
# Each part gets at most its budget (PART_BUDGET below; BENCH_TIMEOUT=s overrides them all) and
# never more than what is left of DEADLINE, keeping RESERVE s for the tests; the tests get what
# is left. The CPU tables come from the dev machine; FULL=1 also runs each benchmark's CPU cases.
#
# The GPU machine has no network. Packages it lacks travel as wheels in .whl/ (git-ignored,
# ~34 MiB). Before the run, on a machine with network:
#   CHECK=1 bash benchmarks/fetch_gpu_wheels.sh   # + a clean CPython 3.12 import check
# then copy .whl/ along with the tree. The library's GPU paths need only CuPy / numba-cuda; the
# wheels are for the peers (POT, OTT-JAX, universal-divergence) and the toy kit.
# CPU-side pre-flight (no GPU): python -m pytest -q tests/gpu/test_gpu_static.py tests/gpu/test_gpu_preflight.py
set -uo pipefail
cd "$(dirname "$0")/.."
# Everything is written straight under $OUT as it is produced (a call killed at its time limit
# still returns what is there; at most 8 files come back):
#   env.json                   device, driver, CUDA, CuPy, numba-cuda, jax versions, date (first)
#   <bench>.json               each benchmark's JSON, rewritten after every case (Checkpoint)
#   bench_gpu/results.json     kantorovich bench's results, rewritten after every case (its
#                              index.html is removed: rebuild it from results.json with
#                              kantorovich.bench.write; the folder goes once merged below)
#   gpu_check_<parts>.log      the tests' and benchmarks' output, appended as they run
#   gpu_results_<parts>.json   all of the above merged, at the end (if the script gets there)
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
T0=$SECONDS
DEADLINE=${DEADLINE:-480}
RESERVE=${RESERVE:-60}  # seconds kept for the gpu-marked tests when they are in the plan
left() { echo $(( DEADLINE - (SECONDS - T0) )); }
# per-part budgets (s), from the pre-run estimates: sinkhorn ~1-1.5 min, auction ~2-3 min
# (numba JIT + numba-cuda compile ~30-60 s, POT to 8000 ~16 s, 32000 ~15-40 s), 1-D/sliced and
# kNN ~0.5 min each; grad (two sizes, a few solves each) ~0.5 min; batch (not in the default
# plan: the batched Sinkhorn kernel's compile ~20-30 s, the loop of 256 single GPU solves twice)
# ~1 min
part_budget() {
  if [ -n "${BENCH_TIMEOUT:-}" ]; then echo "$BENCH_TIMEOUT"; return; fi
  case "$1" in
    sinkhorn) echo 105 ;; auction) echo 165 ;; wasserstein_1d) echo 60 ;; estimators) echo 60 ;;
    grad) echo 30 ;; bench) echo 90 ;; batch) echo 60 ;;
    *) echo 120 ;;
  esac
}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(sinkhorn auction wasserstein_1d estimators grad bench tests)
tag=$(IFS=-; echo "${parts[*]}")
# the tests' reserve only matters while they are still to come (they are last in the plan)
has_tests=0; [ "${parts[-1]}" = tests ] && has_tests=1
if [ "${DRY_RUN:-0}" = 1 ]; then
  echo "plan (DEADLINE=${DEADLINE}s, reserve ${RESERVE}s for tests: $has_tests):"
  for part in "${parts[@]}"; do
    case "$part" in
      tests) [ "$part" = "${parts[-1]}" ] && w="what is left" || w="<= ${TESTS_TIMEOUT:-180}s"
             echo "  tests: python3 -m pytest -q -m gpu tests ($w)" ;;
      sinkhorn|auction|wasserstein_1d|estimators|grad|batch)
        echo "  $part: python3 benchmarks/bench_$part.py --gpu-only --out $OUT (<= $(part_budget "$part")s)" ;;
      bench) echo "  bench: python3 -m kantorovich bench --device gpu --quick --out $OUT/bench_gpu (<= $(part_budget bench)s of what is left)" ;;
      *) echo "  $part: unknown part (sinkhorn auction wasserstein_1d estimators grad batch bench tests)"; exit 2 ;;
    esac
  done
  exit 0
fi
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=src:${PYTHONPATH:-} PYTHONUNBUFFERED=1
# JAX (OTT-JAX peer) must not grab 75% of the GPU up front: CuPy shares the device
export XLA_PYTHON_CLIENT_PREALLOCATE=false
LOG="$OUT/gpu_check_$tag.log"
: > "$LOG"
python3 benchmarks/gpu_env.py "$OUT/env.json" 2>&1 | tee -a "$LOG"
status=0
flag=--gpu-only
[ "${FULL:-0}" = 1 ] && flag=--gpu
for part in "${parts[@]}"; do
  budget=$(left)
  if [ "$part" = tests ]; then
    if [ "$budget" -le 20 ]; then echo "== tests: skipped, deadline reached" | tee -a "$LOG"; status=1; continue; fi
    t=$(( budget - 5 ))
    # not the last part (a re-run's subset): at most TESTS_TIMEOUT, leave the rest to the others
    [ "$part" != "${parts[-1]}" ] && t=$(( ${TESTS_TIMEOUT:-180} < t ? ${TESTS_TIMEOUT:-180} : t ))
    echo "== gpu tests (timeout ${t}s)" | tee -a "$LOG"
    timeout "$t" python3 -m pytest -q -m gpu tests -p no:cacheprovider --durations=10 2>&1 | tee -a "$LOG" \
      || status=1
    continue
  fi
  [ "$has_tests" = 1 ] && budget=$(( budget - RESERVE ))
  if [ "$budget" -le 15 ]; then echo "== $part: skipped, deadline reached" | tee -a "$LOG"; status=1; continue; fi
  pb=$(part_budget "$part")
  t=$(( pb < budget ? pb : budget - 5 ))
  if [ "$part" = bench ]; then  # the package's command, every suite at its quick sizes
    echo "== kantorovich bench --device gpu --quick (timeout ${t}s, $(( SECONDS - T0 ))s elapsed)" | tee -a "$LOG"
    timeout "$t" python3 -m kantorovich bench --device gpu --quick --no-progress --out "$OUT/bench_gpu" 2>&1 \
      | tee -a "$LOG" \
      || { echo "kantorovich bench failed or timed out (bench_gpu/results.json holds the cases it finished)" | tee -a "$LOG"; status=1; }
    rm -f "$OUT/bench_gpu/index.html"  # at most 8 files come back
    continue
  fi
  b=benchmarks/bench_$part.py
  [ -f "$b" ] || { echo "unknown part: $part (sinkhorn auction wasserstein_1d estimators grad batch bench tests)" | tee -a "$LOG"; status=1; continue; }
  echo "== bench_$part $flag (timeout ${t}s, $(( SECONDS - T0 ))s elapsed)" | tee -a "$LOG"
  timeout "$t" python3 "$b" $flag --out "$OUT" 2>&1 | tee -a "$LOG" \
    || { echo "bench_$part failed or timed out (its JSON holds the cases it finished)" | tee -a "$LOG"; status=1; }
done
python3 - "$OUT" "$tag" "${parts[@]}" <<'PY'
import json, pathlib, sys
out, tag, parts = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
names = {"sinkhorn": "sinkhorn", "bench": "bench_gpu/results", "batch": "batch_gpu"}
merged = {}
env = out / "env.json"
if env.exists():
    merged["env"] = json.loads(env.read_text())
for part in parts:
    if part == "tests":
        continue
    p = out / f"{names.get(part, 'bench_' + part)}.json"
    if p.exists():
        merged["bench_gpu" if part == "bench" else p.stem] = json.loads(p.read_text())
(out / f"gpu_results_{tag}.json").write_text(json.dumps(merged, indent=2))
print("merged:", sorted(merged))
if "bench_gpu" in merged:  # kept in the merged file: the folder would be a ninth file
    (out / "bench_gpu" / "results.json").unlink()
    (out / "bench_gpu").rmdir()
PY
echo "total $(( SECONDS - T0 )) s" | tee -a "$LOG"
exit $status
