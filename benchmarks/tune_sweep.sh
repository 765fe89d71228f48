#!/usr/bin/env bash
# Hyper-parameter sweep behind recipes/kinetics_tiny_tuned.toml: every variant below, seeds
# 0 1 2, P runs at a time (each with 2 loader workers), then a table of val top-1 (final and
# best epoch) per variant. Meant for a many-core machine (a GPU one: train.device=auto).
#   benchmarks/tune_sweep.sh DATA_ROOT OUT_DIR [P]
# SWEEP_TIMEOUT=SECONDS stops unfinished runs (their rows show '-'); fp32 throughout, as on CPU.
set -u
D=${1:?data root}; O=${2:?out dir}; P=${3:-6}
R=recipes/kinetics_tiny_tuned.toml
mkdir -p "$O"
# each variant spells out epochs, batch and lr, so the list reproduces the 2026-11-26 sweep
# whatever the recipe's own values (the recipe now holds e25_b8_lr4's)
B4="--set data.batch_size=4"
variants=(
  "base15|--set train.epochs=15 $B4 --set train.optimizer.lr=0.002"
  "e25|--set train.epochs=25 $B4 --set train.optimizer.lr=0.002"
  "e25_lr4|--set train.epochs=25 $B4 --set train.optimizer.lr=0.004"
  "e25_b8_lr4|--set train.epochs=25 --set data.batch_size=8 --set train.optimizer.lr=0.004"
  "e25_wd05|--set train.epochs=25 $B4 --set train.optimizer.weight_decay=0.05 --set train.optimizer.lr=0.003"
  "e25_c96|--set train.epochs=25 $B4 --set train.optimizer.lr=0.002 --set model.backbone.channels=[96,192] --set model.head.in_channels=192"
  "e20_lr5|--set train.epochs=20 $B4 --set train.optimizer.lr=0.005"
  "e30|--set train.epochs=30 $B4 --set train.optimizer.lr=0.002"
)
jobs=()
for v in "${variants[@]}"; do for s in 0 1 2; do jobs+=("${v%%|*}|$s|${v#*|}"); done; done
printf '%s\n' "${jobs[@]}" | timeout "${SWEEP_TIMEOUT:-0}" xargs -P "$P" -I{} bash -c '
  IFS="|" read -r name seed over <<< "{}"
  zelda run '"$R"' --set data.root='"$D"' --set seed=$seed --set data.workers=2 --set train.amp=none $over \
    --work-dir /tmp/sweep/$name-s$seed > '"$O"'/$name-s$seed.log 2>&1
  echo "finished $name seed $seed"'
python3 - "$O" <<'PY'
import collections, pathlib, re, sys
rows = collections.defaultdict(dict)
for log in sorted(pathlib.Path(sys.argv[1]).glob("*-s?.log")):
    name, seed = log.stem.rsplit("-s", 1)
    text = log.read_text()
    vals = re.findall(r"val top1 ([0-9.]+)", text)
    best = re.search(r"best top1 ([0-9.]+) at epoch (\d+)", text)
    rows[name][seed] = (vals[-1] if vals else "-", best.group(1) if best else "-")
print(f"{'variant':14s} " + "  ".join(f"s{s} final/best" for s in "012"))
for name, seeds in rows.items():
    print(f"{name:14s} " + "  ".join("{}/{}".format(*seeds.get(s, ("-", "-"))) for s in "012"))
PY
