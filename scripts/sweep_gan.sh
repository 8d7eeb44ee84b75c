#!/usr/bin/env bash
# Re-tunes synth gan's low-data defaults on the VALIDATION split (never test) and prints the table the README shows.
#
#   scripts/sweep_gan.sh                          # bundled mnist, 20 training images per class
#   DATASET=path/to/images PC=50 scripts/sweep_gan.sh
#
# Every GAN set is scored by its validation CAS: the cnn trained on the 500-per-class synthetic images only, its
# accuracy on the real validation split (`cas_val` in metrics.json; the test-split CAS is printed beside it for
# reference only). The grid, in the order the measurements narrowed it (2 cores: a 1,000-step run is ~5 min):
#   1. DiffAugment off vs on, 1,000 steps (two trainings);
#   2. on the better run, samples with the class-consistency filter at tau 0.5, 0.9 and 0.99, and truncation 1.0
#      (`synth gan sample`: no retraining; the filter's judge is a cnn fitted on the same 20 real images per class);
#   3. 2,000 steps with the better DiffAugment setting, unfiltered and through the filter at tau 0.9 (STEPS2=0 skips
#      it).
# Runs already finished (a metrics.json present) are reused, so an interrupted sweep continues where it stopped.
# The grid was measured without real-image augmentation (REAL_AUGMENT=none; the default since 2026-12-02 is chosen by
# scripts/sweep_gan_arms.sh, as is the 2,000-step schedule): REAL_AUGMENT=rotate:10@0.5,... sweeps on top of another
# setting.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-mnist}
PC=${PC:-20}
SEED=${SEED:-0}
STEPS2=${STEPS2:-2000}
REAL_AUGMENT=${REAL_AUGMENT:-none}
OUT=${OUT:-outputs/sweep-gan/$(basename "$DATASET")-pc$PC-seed$SEED}
SYNTH=${SYNTH:-cargo run --quiet --}

train() { # name, flags...
    local name=$1; shift
    [ -f "$OUT/$name/metrics.json" ] && return
    $SYNTH --quiet gan --dataset "$DATASET" --train-per-class "$PC" --seed "$SEED" --filter-tau 0 --truncation 0 \
        --real-augment "$REAL_AUGMENT" --out "$OUT/$name" --force "$@" >/dev/null
}
sample() { # run, name, flags...
    local run=$1 name=$2; shift 2
    [ -f "$OUT/$run/$name/metrics.json" ] && return
    $SYNTH --quiet gan sample --checkpoint "$OUT/$run" --metrics true --out "$OUT/$run/$name" --force "$@" >/dev/null
}
val_cas() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cas_val"])' "$1/metrics.json"; }
better() { # the run with the higher validation CAS
    python3 -c 'import sys; print(sys.argv[1] if float(sys.argv[2]) >= float(sys.argv[4]) else sys.argv[3])' \
        "$1" "$(val_cas "$OUT/$1")" "$2" "$(val_cas "$OUT/$2")"
}

train da-off-1000 --diffaugment off --min-steps 1000
train da-on-1000 --diffaugment on --min-steps 1000
best=$(better da-off-1000 da-on-1000)
da=${best#da-}; da=${da%-1000}
sample "$best" tau0.5 --filter-tau 0.5 --truncation 0
sample "$best" tau0.9 --filter-tau 0.9 --truncation 0
sample "$best" tau0.99 --filter-tau 0.99 --truncation 0
sample "$best" trunc1.0 --filter-tau 0 --truncation 1.0
if [ "$STEPS2" -gt 0 ]; then
    train "da-$da-$STEPS2" --diffaugment "$da" --min-steps "$STEPS2"
    sample "da-$da-$STEPS2" tau0.9 --filter-tau 0.9 --truncation 0
fi

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = []
for root, dirs, files in sorted(os.walk(out)):
    if "metrics.json" not in files:
        continue
    m = json.load(open(os.path.join(root, "metrics.json")))
    samples = root if os.path.isfile(os.path.join(root, "origin.json")) else os.path.join(root, "samples")
    cfg = json.load(open(os.path.join(samples, "origin.json"))).get("config", {})
    run = root if samples != root else os.path.dirname(root)
    train = json.load(open(os.path.join(run, "checkpoint", "state.json"))) if os.path.isfile(
        os.path.join(run, "checkpoint", "state.json")) else {}
    f = cfg.get("sample_filter") or {}
    rows.append((os.path.relpath(root, out), cfg.get("diffaugment"), cfg.get("min_steps"),
                 cfg.get("sample_truncation"), round(f.get("tau", 0), 4), f.get("kept_share"), m["cas_val"], m["cas"], m["fid"]))
best = max(r[6] for r in rows)
print("| set | DiffAugment | min_steps | truncation | filter tau | kept share | val CAS | (test CAS) | FID |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    share = "-" if r[5] is None else f"{100 * r[5]:.0f}%"
    v = f"{100 * r[6]:.1f}%"
    v = f"**{v}**" if r[6] == best else v
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {share} | {v} | {100 * r[7]:.1f}% | {r[8]:.1f} |")
PY
