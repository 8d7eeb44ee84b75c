#!/usr/bin/env bash
# The sweep that chose the from-scratch cnn's defaults (cnn_lr, cnn_hidden, cnn_standardize), on the VALIDATION split
# of three datasets (never the test split):
#   mnist     bundled, 28x28, 20 training images per class
#   digits    bundled UCI 8x8 digits upscaled with --resize 28 (the 28x28 digits of issue 21), 20 per class
#   textures  3 classes of 64x64 grey patches of styles/brick, grass, gravel (written by the ignored test
#             tests/beyond_mnist.rs::write_texture_dataset), 10 per class
# Every setting is fitted with seeds 0-2 (each seed draws its own training images and initialises its own net) by
# `synth classifier train --backbone cnn`; the score is fit.json's best_val_accuracy (the validation accuracy of the
# weights early stopping returns). Every other setting is the code default.
#
# Stage 1 sweeps the learning rate {3e-4, 1e-3, 3e-3, 1e-2} (hidden 128, raw pixels). Stage 2 takes stage 1's two best
# learning rates and tries, at each, the head width (hidden 64, 256) and per-image standardisation. Settings are ranked
# by the mean over the three datasets of the per-dataset mean (each dataset weighs the same).
#
# Usage: scripts/sweep_cnn.sh [OUT_DIR]      (default OUT_DIR: outputs/sweep-cnn)
# Runs already in OUT_DIR (a fit.json present) are reused, so an interrupted sweep resumes and a finished one
# reprints its tables at once. About 3 minutes per setting on a 2-core VM (mnist ~15 s, digits ~10 s, textures
# ~35 s per fit): 10 settings, 90 fits, about 30 minutes. Set CARGO_TARGET_DIR as for any cargo command.
set -euo pipefail

cd "$(dirname "$0")/.."
out="${1:-outputs/sweep-cnn}"
seeds=(0 1 2)
mkdir -p "$out"
out=$(cd "$out" && pwd)

cargo build --quiet
bin="${CARGO_TARGET_DIR:-target}/debug/synth"

textures="$out/textures"
if [ ! -d "$textures/brick" ]; then
    SYNTH_TEXTURE_OUT="$textures" cargo test --quiet --test beyond_mnist write_texture_dataset -- --ignored \
        >/dev/null
fi

# name -> the dataset flags of `synth classifier train`
declare -A data=(
    [mnist]="--dataset mnist --per-class 20"
    [digits]="--dataset digits --resize 28 --per-class 20"
    [textures]="--dataset $textures --per-class 10"
)
datasets=(mnist digits textures)

# run SETTING FLAGS...: fits SETTING on every dataset and seed (skipping fits already done).
run() {
    local setting=$1
    shift
    for d in "${datasets[@]}"; do
        for s in "${seeds[@]}"; do
            local dir="$out/runs/$setting/$d/seed$s"
            [ -f "$dir/fit.json" ] && continue
            local t0=$SECONDS
            # shellcheck disable=SC2086
            "$bin" classifier train --quiet --backbone cnn ${data[$d]} --seed "$s" "$@" \
                --out "$dir" --force --tb-dir "$out/tb" >"$out/last.log" 2>&1 ||
                { cat "$out/last.log" >&2; exit 1; }
            echo "  $setting $d seed $s: $((SECONDS - t0)) s" >&2
        done
    done
}

# table SETTING...: prints setting x dataset (mean and per-seed validation accuracy, %) and the winner on stderr, and
# the settings ranked best first on stdout.
table() {
    python3 - "$out/runs" "$@" <<'EOF'
import json, sys
root, settings = sys.argv[1], sys.argv[2:]
datasets = ["mnist", "digits", "textures"]
def val(setting, d, s):
    with open(f"{root}/{setting}/{d}/seed{s}/fit.json") as f:
        return 100 * json.load(f)["best_val_accuracy"]
print("| setting | " + " | ".join(f"{d} mean (seeds 0/1/2)" for d in datasets) + " | mean of means |",
      file=sys.stderr)
print("|---|" + "---|" * (len(datasets) + 1), file=sys.stderr)
scores = []
for setting in settings:
    cells, means = [], []
    for d in datasets:
        v = [val(setting, d, s) for s in (0, 1, 2)]
        m = sum(v) / len(v)
        means.append(m)
        cells.append(f"{m:.1f} ({' / '.join(f'{x:.1f}' for x in v)})")
    overall = sum(means) / len(means)
    print(f"| {setting} | " + " | ".join(cells) + f" | {overall:.2f} |", file=sys.stderr)
    scores.append((overall, setting))
ranked = [s for _, s in sorted(scores, key=lambda x: -x[0])]
print(f"winner: {ranked[0]} ({max(scores)[0]:.2f}); runner-up: {ranked[1]} ({sorted(scores)[-2][0]:.2f})",
      file=sys.stderr)
print("\n".join(ranked))
EOF
}

echo "stage 1: learning rate (hidden 128, raw pixels), validation accuracy %" >&2
lrs=(3e-4 1e-3 3e-3 1e-2)
for lr in "${lrs[@]}"; do
    run "lr$lr" --cnn-lr "$lr" --cnn-hidden 128 --cnn-standardize false
done
ranked=$(table "${lrs[@]/#/lr}")

echo >&2
echo "stage 2: width and standardisation at stage 1's two best learning rates, validation accuracy %" >&2
finalists=()
for setting in $(echo "$ranked" | head -n 2); do
    lr=${setting#lr}
    run "lr$lr-hidden64" --cnn-lr "$lr" --cnn-hidden 64 --cnn-standardize false
    run "lr$lr-hidden256" --cnn-lr "$lr" --cnn-hidden 256 --cnn-standardize false
    run "lr$lr-std" --cnn-lr "$lr" --cnn-hidden 128 --cnn-standardize true
    finalists+=("lr$lr" "lr$lr-hidden64" "lr$lr-hidden256" "lr$lr-std")
done
table "${finalists[@]}" >/dev/null
