#!/usr/bin/env bash
# Training benchmark: zelda vs MMAction2's seed tutorial on kinetics2_tiny, CPU, 10 epochs,
# seeds 0 1 2, interleaved (mm s0, zelda s0, mm s1, ...), so both see the same machine load.
#   benchmarks/training.sh OUT_DIR [SEEDS...]
# Needs /tmp/venv-mmaction (../shared/bench/setup_mmaction.sh). Each run's wall/CPU seconds
# come from /usr/bin/time; accuracy from its log. Summarize with benchmarks/training_summary.py OUT_DIR.
set -u
OUT=${1:-/tmp/zbench}; shift || true
SEEDS=${*:-0 1 2}
HERE=$(cd "$(dirname "$0")/.." && pwd)
DATA=${ZELDA_SHARED:-$HERE/../shared}/data/kinetics2_tiny
MMPY=${MMPY:-/tmp/venv-mmaction/bin/python}
mkdir -p "$OUT"
for s in $SEEDS; do
  if [ -z "${SKIP_MM:-}" ]; then
    /usr/bin/time -f "WALL %e CPU %U %S RSS %M" -o "$OUT/mm_s$s.time" \
      "$MMPY" "$HERE/benchmarks/mmaction_seeded.py" "$s" train "$DATA" --epochs 10 \
      --work-dir "$OUT/mm_s$s" > "$OUT/mm_s$s.log" 2>&1
  fi
  if [ -z "${SKIP_ZELDA:-}" ]; then
    /usr/bin/time -f "WALL %e CPU %U %S RSS %M" -o "$OUT/zelda_s$s.time" \
      zelda run "$HERE/recipes/kinetics_tiny.toml" --set data.root="$DATA" --set seed=$s \
      --work-dir "$OUT/zelda_s$s" > "$OUT/zelda_s$s.log" 2>&1
  fi
done
echo done > "$OUT/DONE"
