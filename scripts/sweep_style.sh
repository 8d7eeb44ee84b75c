#!/usr/bin/env bash
# Reproduces the choice of `synth style`'s dataset-mode strength range (issue 16): for each range, the style set of
# MNIST's 20-per-class subset (the subset eval-gain uses), its label agreement under a cnn fitted on that subset, and
# the validation accuracy (never test) of the cnn fitted on real + style against real alone, over seeds 0-2.
# Usage: scripts/sweep_style.sh [WORK_DIR] [RANGES...]   e.g. scripts/sweep_style.sh /tmp/sweep 1:1 0.3:0.7
# Prints one table row per range. Takes ~3 min per range on 2 cores (debug build, dependencies at opt-level 3).
set -euo pipefail
work=${1:-outputs/sweep-style}; shift || true
ranges=("$@"); [ ${#ranges[@]} -gt 0 ] || ranges=(1:1 0.5:1 0.3:0.7 0.2:0.5 0.1:0.4)
cargo build --quiet
s=target/debug/synth
mkdir -p "$work"
val() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best_val_accuracy"])' "$1/fit.json"; }
fit() { # fit OUT SEED [EXTRA] -> the run's best validation accuracy
  local out=$1 seed=$2; shift 2
  $s --quiet classifier train --dataset mnist --backbone cnn --per-class 20 --seed "$seed" "$@" --out "$out" \
    --tb-dir "$work/tb" --force > /dev/null
  val "$out"
}
judge="$work/judge"
[ -f "$judge/fit.json" ] || fit "$judge" 0 > /dev/null
declare -a real
for seed in 0 1 2; do real[$seed]=$(fit "$work/real-$seed" "$seed"); done
echo "| strength | label agreement | val real (seeds 0-2) | val real + style | mean gain (pp) |"
echo "|---|---|---|---|---|"
for r in "${ranges[@]}"; do
  lo=${r%:*}; hi=${r#*:}; set_dir="$work/style-$lo-$hi"
  agreement=$($s --quiet --json style --content mnist --style styles --max-images 200 --strength-min "$lo" \
    --strength-max "$hi" --judge "$judge" --out "$set_dir" --tb-dir "$work/tb" --force |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["label_agreement"], 4))')
  with=(); for seed in 0 1 2; do with+=("$(fit "$work/with-$lo-$hi-$seed" "$seed" --extra "$set_dir")"); done
  python3 - "$lo" "$hi" "$agreement" "${real[@]}" "${with[@]}" <<'PY'
import sys
lo, hi, agreement = sys.argv[1:4]
real, with_ = list(map(float, sys.argv[4:7])), list(map(float, sys.argv[7:10]))
gain = 100 * sum(w - r for w, r in zip(with_, real)) / 3
fmt = lambda v: ", ".join(f"{100 * x:.1f}" for x in v)
print(f"| [{lo}, {hi}] | {100 * float(agreement):.1f}% | {fmt(real)} | {fmt(with_)} | {gain:+.2f} |")
PY
done
