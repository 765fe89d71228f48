#!/usr/bin/env bash
# Issue 25's GPU check (docs/benchmarks.md, "GPU decoding"): `zelda bench train` for the
# tutorial recipe at batch 16 on CUDA, three ways: the originals decoded on CPU (pyav), a
# prepared copy decoded on CPU (pyav), and the originals decoded on the GPU's NVDEC engines
# (torchcodec, device = "cuda", in the main process: CUDA does not survive a forked
# DataLoader worker), the frames kept on the GPU and the steps after decode run there in one
# batched step per batch (data.device_tail, "auto" with a CUDA decoder; docs/decoders.md).
# Prints each data share and, for the NVDEC row, which steps ran where. Run from the repo root of a CUDA machine with
# zelda-video[torchcodec] and torchcodec's CUDA build installed:
#   benchmarks/gpu_decode.sh [DATA_ROOT] [OUT_DIR]
# DATA_ROOT defaults to ../shared/data/kinetics2_tiny; the copy and JSON go to OUT_DIR.
set -eu
D=${1:-../shared/data/kinetics2_tiny}; O=${2:-/tmp/zelda_gpu_decode}
R=recipes/kinetics_tiny.toml
B=${ZELDA_BENCH_BATCHES:-200}
mkdir -p "$O"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import os, torch, torchcodec; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'torchcodec', torchcodec.__version__, 'cpus', os.cpu_count())"

echo "== prepare (default profile, short side 256, all cores)"
[ -d "$O/prepared" ] || zelda data prepare $R --set data.root="$D" --out "$O/prepared"

run() {  # name data_root extra --set arguments...
  name=$1; data=$2; shift 2
  echo "== bench train: $name (batch 16)"
  zelda bench train $R --device cuda --batches "$B" --json --set data.root="$data" \
    --set data.batch_size=16 "$@" | tee "$O/bench_train_$name.json"
}
run originals "$D" --decoder pyav --set data.workers='"auto"'
run prepared "$O/prepared" --decoder pyav --set data.workers='"auto"'
run nvdec "$D" --decoder torchcodec --set data.decoder_options.device='"cuda"' --set data.workers=0

python3 - "$O" <<'PY'
import json, sys
for name in ("originals", "prepared", "nvdec"):
    d = json.load(open(f"{sys.argv[1]}/bench_train_{name}.json"))
    print(f"{name}: model ceiling {d['model_ceiling_clips_s']:.0f} clips/s, loader supply "
          f"{d['loader_supply_clips_s']:.0f}, end to end {d['end_to_end_clips_s']:.0f}, "
          f"data share {100 * d['data_share']:.1f}%")
    for line in d.get("device_tail") or ():
        print(f"  {line}")
PY
