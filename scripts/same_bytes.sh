#!/usr/bin/env bash
# Runs the same tiny commands (augment, gan, style dataset mode, adversarial, eval-gain with the cnn, classifier
# train and eval) with a synth binary into a folder, so two builds can be compared byte for byte with
# scripts/compare_runs.py. A refactor must
# leave every image, manifest and report unchanged.
# Usage: scripts/same_bytes.sh SYNTH_BINARY OUT_DIR   (run from the repository root: it reads the bundled data)
set -euo pipefail
bin=$1; out=$2
rm -rf "$out"; mkdir -p "$out"
# The binary is run from one fixed path, so origin.json's recorded command line is the same for both builds.
mkdir -p /tmp/synth-same-bytes; cp "$bin" /tmp/synth-same-bytes/synth; s=/tmp/synth-same-bytes/synth
r=/tmp/synth-same-bytes/run; rm -rf "$r"; mkdir -p "$r"
tb="$r/tb"
$s augment --quiet --dataset digits --copies 2 --out "$r/augment" --tb-dir "$tb/a"
$s gan --quiet --dataset mnist --train-per-class 10 --epochs 1 --min-steps 4 --batch-size 16 --per-class 2 \
  --metrics false --out "$r/gan" --tb-dir "$tb/g"
$s style --quiet --content digits --style styles --max-images 4 --dataset-iterations 2 --batch-size 4 \
  --out "$r/style" --tb-dir "$tb/s"
$s adversarial --quiet --dataset digits --backbone cnn --limit 40 --steps 3 --out "$r/adversarial" --tb-dir "$tb/v"
$s eval-gain --quiet --backbone cnn --per-class 5 --seeds 2 --sources augment --robust-images 20 \
  --out "$r/eval-gain" --cache-dir "$r/cache" --tb-dir "$tb/e"
$s classifier train --quiet --dataset digits --backbone cnn --per-class 10 --head-epochs 2 --min-steps 4 \
  --out "$r/classifier" --tb-dir "$tb/c"
$s --json classifier eval --quiet --model "$r/classifier" --attack pgd --eps 0.1 --steps 3 | python3 -c \
  'import json,sys; d=json.load(sys.stdin); d["robust"].pop("seconds"); print(json.dumps(d, sort_keys=True))' \
  > "$r/classifier-eval.json"
mv "$r"/* "$out"/
