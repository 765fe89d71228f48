#!/usr/bin/env bash
# The GPU criterion of `zelda data prepare` (docs/benchmarks.md, "Prepared copies"): the
# tutorial recipe at batch 16 on the originals and on a prepared copy, `zelda bench train`
# on CUDA, data share of each. Run from the repo root of a CUDA machine with zelda installed:
#   benchmarks/gpu_prepared.sh [DATA_ROOT] [OUT_DIR]
# DATA_ROOT defaults to ../shared/data/kinetics2_tiny; the copy and JSON go to OUT_DIR.
set -eu
D=${1:-../shared/data/kinetics2_tiny}; O=${2:-/tmp/zelda_gpu_prepared}
R=recipes/kinetics_tiny.toml
mkdir -p "$O"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import os, torch, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'av', av.__version__, 'cpus', os.cpu_count())"

echo "== prepare (default profile, short side 256, all cores)"
/usr/bin/time -f "prepare: %e s wall, %U s user" \
  zelda data prepare $R --set data.root="$D" --out "$O/prepared"

for data in "$D" "$O/prepared"; do
  name=$([ "$data" = "$D" ] && echo originals || echo prepared)
  echo "== bench train on the $name: batch 16, data.workers=auto"
  zelda bench train $R --device cuda --batches 200 --json --set data.root="$data" \
    --set data.batch_size=16 --set data.workers='"auto"' | tee "$O/bench_train_$name.json"
done
python3 - "$O" <<'EOF'
import json, sys
for name in ("originals", "prepared"):
    d = json.load(open(f"{sys.argv[1]}/bench_train_{name}.json"))
    print(f"{name}: model ceiling {d['model_ceiling_clips_s']:.0f} clips/s, loader supply "
          f"{d['loader_supply_clips_s']:.0f}, end to end {d['end_to_end_clips_s']:.0f}, "
          f"data share {100 * d['data_share']:.1f}% ({d['predicted_bound']}-bound by "
          f"{d.get('bound_ratio')}x)")
EOF
