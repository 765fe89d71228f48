#!/usr/bin/env bash
# GPU figures for docs/benchmarks.md ("Training on a GPU"), run from the repo root of a
# CUDA machine with zelda installed:  benchmarks/gpu.sh DATA_ROOT OUT_DIR
# DATA_ROOT is kinetics2_tiny plus train_x8.txt (its train list repeated 8 times, so an
# epoch is long enough to time). Work dirs go to /tmp; logs and metrics.jsonl to OUT_DIR.
set -u
D=${1:?data root}; O=${2:?out dir}; W=/tmp/zelda_gpu
mkdir -p "$O" "$W"
R=recipes/kinetics_tiny.toml
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import os, torch, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'av', av.__version__, 'cpus', os.cpu_count())"

echo "== 1. model ceiling (synthetic uint8 clips in pinned memory, no loader)"
python3 benchmarks/model_throughput.py $R --device cuda --batch 2 16 64 --amp bf16 none \
  --channels-last true false --steps 30 --json > "$O/model.jsonl"
python3 benchmarks/model_throughput.py $R --device cuda --batch 16 64 --amp bf16 --channels-last true \
  --compile true --steps 30 --json >> "$O/model.jsonl"
cat "$O/model.jsonl"

run() {  # name, overrides...
  local name=$1; shift
  echo "== $name: $*"
  zelda run $R --set data.root="$D" --work-dir "$W/$name" "$@" 2>&1 | grep -v "it/s\]$"
  cp "$W/$name/metrics.jsonl" "$O/$name.jsonl" 2>/dev/null
}
echo "== 2. end to end, real decoding (pyav) and DataLoader workers"
run tutorial --set train.epochs=3
run tutorial_w12 --set train.epochs=3 --set data.workers=12
run b16_w14 --set data.train.ann_file=train_x8.txt --set data.batch_size=16 --set data.workers=14 \
  --set data.prefetch=4 --set train.epochs=3 --set train.val_interval=3
run b16_w14_fp16 --set data.train.ann_file=train_x8.txt --set data.batch_size=16 --set data.workers=14 \
  --set train.amp=fp16 --set train.epochs=1
echo "== 3. test and predict from the best checkpoint"
zelda test $R --set data.root="$D" --checkpoint "$W/b16_w14/checkpoints/best.pth" --split val
zelda predict "$W/b16_w14/checkpoints/best.pth" "$D"/val/$(ls "$D/val" | head -1) --top-k 2
