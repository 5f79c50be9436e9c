#!/usr/bin/env bash
# One prepared session on a lent GPU machine (issue #14, items 3, 4, 5 and 7), everything written under $OUT:
#   1. benches/bench_rpca_gpu.py               RPCA batched across clips on the GPU (target >= 200 clips/s)
#   2. benches/bench_trainer.py (CPU and CUDA)  trainer throughput / pure step rate (target >= 0.5 on a GPU)
#   3. the release-scale synthetic set         melib data synth --preset release (landmarks from the ground
#                                              truth: dlib cannot be installed there, MELIB_LANDMARKS=ground_truth)
#   4. melib study --plan --profile paper      the paper profile's plan and estimate, calibrated on that machine
#   5. a short paper-profile run               $NOTEBOOKS with $CHANGES (fewer folds and epochs), GPU utilisation
#                                              sampled every second, then --plan again: actual beside estimate
#
#   OUT=/tmp/out bash benches/gpu_session.sh            # on the GPU machine (the run tool sets $OUT)
#   OUT=/tmp/out bash benches/gpu_session.sh --tiny     # the CPU path in a minute: smoke profile, one model
#
# Scratch data (synthetic set, caches, run records) goes to $WORK (default /tmp/melib-gpu-session), not $OUT.
# Each step's output is kept even when a later step fails; the exit status is the first failure's.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder that comes back}
WORK=${WORK:-/tmp/melib-gpu-session}
PY=${PY:-.venv/bin/python}
TINY=0
[ "${1:-}" = "--tiny" ] && TINY=1
mkdir -p "$OUT" "$WORK"
export MELIB_HOME="$WORK" MELIB_CACHE="$WORK/cache" MELIB_RUNS="$WORK/runs" MELIB_LANDMARKS=ground_truth
export MELIB_CONFIG="$WORK/absent.yaml"
unset MELIB_DASK
if [ $TINY = 1 ]; then
  PROFILE=smoke; DEVICE=cpu; NOTEBOOKS="12_c3d"; CHANGES='{"max_folds": 2, "epochs": 1}'
  TRAINER="--models c3d_model_a --steps 2 --epochs 1 --repeats 1"; RPCA="--clips 4 --batch 2 --single 1"
  DATA=(); export MELIB_DATA_SYNTH="$WORK/synth"
else
  PROFILE=paper; DEVICE=cuda; NOTEBOOKS="12_c3d 11_psn"; CHANGES='{"max_folds": 2, "epochs": 5}'
  TRAINER="--profile paper --batch 8"; RPCA=""
  DATA=(--data synth); export MELIB_DATA_SYNTH="$WORK/synth-release"
fi
status=0
step() {  # step NAME COMMAND...: run, tee to $OUT/NAME.txt, time it, remember the first failure
  local name=$1; shift
  echo "== $name: $*" | tee -a "$OUT/session.log"
  local t0=$(date +%s)
  "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  echo "   rc=$rc, $(( $(date +%s) - t0 )) s" | tee -a "$OUT/session.log"
  [ $rc != 0 ] && [ $status = 0 ] && status=$rc
  tail -n 25 "$OUT/$name.txt"
}
{ date -u; uname -a; nproc; uptime; nvidia-smi 2>/dev/null || echo "no nvidia-smi"; $PY -c \
  "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } > "$OUT/machine.txt" 2>&1

step bench_rpca_gpu $PY benches/bench_rpca_gpu.py $RPCA
step bench_trainer $PY benches/bench_trainer.py $TRAINER
if [ $TINY = 0 ]; then
  step synth_release $PY -m melib.cli data synth --preset release --root "$MELIB_DATA_SYNTH"
fi
PLAN=(study --profile "$PROFILE" "${DATA[@]}" --device "$DEVICE" --plan-changes "$CHANGES")
step plan_full $PY -m melib.cli study --plan --profile "$PROFILE" "${DATA[@]}" --device "$DEVICE"
step plan_short $PY -m melib.cli "${PLAN[@]}" --plan --notebooks $NOTEBOOKS
UTIL=""
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 1 > "$OUT/gpu_util.csv" 2>&1 &
  UTIL=$!
fi
step run_short $PY -m melib.cli "${PLAN[@]}" --force --notebooks $NOTEBOOKS
[ -n "$UTIL" ] && kill "$UTIL"
step plan_after $PY -m melib.cli "${PLAN[@]}" --plan --notebooks $NOTEBOOKS
cp -r notebooks/executed "$OUT/executed" 2>/dev/null
cp "$WORK"/.cache/melib-calibration/*.json "$OUT/" 2>/dev/null
if [ -s "$OUT/gpu_util.csv" ]; then
  $PY -c "import pandas as pd, sys; d = pd.read_csv(sys.argv[1], skipinitialspace=True); \
u = d.iloc[:, 1].str.rstrip(' %').astype(float); print(f'GPU utilisation over the run: mean {u.mean():.0f} %, \
median {u.median():.0f} %, samples {len(u)}')" "$OUT/gpu_util.csv" | tee -a "$OUT/session.log"
fi
echo "session done, status $status" | tee -a "$OUT/session.log"
exit $status
