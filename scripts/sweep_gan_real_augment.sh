#!/usr/bin/env bash
# Re-measures synth gan's real-image augmentation default on the VALIDATION split (never test) and prints the table
# the README's "GAN sweep" shows.
#
#   scripts/sweep_gan_real_augment.sh                       # bundled mnist, 20 per class, GAN seeds 0 and 1
#   DATASET=path/to/images PC=50 SEEDS="0 1 2" scripts/sweep_gan_real_augment.sh
#
# For each GAN seed it trains two GANs at the defaults otherwise (1,000 steps, the class-consistency filter), one on
# the real images as they are (--real-augment none) and one with MILD (the default's ops), and scores both sets the
# way eval-gain uses them: `synth eval-gain --synthetic none=... --synthetic mild=... --synthetic-only true
# --score-split val` (VGG16 fitted on 200 of a set's images alone, with the real subset, and with it and the augment
# set; accuracy on the held-out validation images, 5 seeds). The validation CAS of each GAN (the small cnn on all
# 5,000 images) is printed beside it. Finished runs (metrics.json, report.json present) are reused. About 4-5 min per
# GAN and 11-14 min per eval-gain on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-mnist}
PC=${PC:-20}
SEEDS=${SEEDS:-0 1}
MILD=${MILD:-rotate:10@0.5,translate:2@0.5,scale:0.1@0.5}
OUT=${OUT:-outputs/sweep-gan-real-augment/$(basename "$DATASET")-pc$PC}
SYNTH=${SYNTH:-cargo run --quiet --}

for seed in $SEEDS; do
    for name in none mild; do
        ops=none
        [ "$name" = mild ] && ops=$MILD
        run="$OUT/gan-$name-s$seed"
        [ -f "$run/metrics.json" ] || $SYNTH --quiet gan --dataset "$DATASET" --train-per-class "$PC" --seed "$seed" \
            --real-augment "$ops" --out "$run" --force >/dev/null
    done
    eval="$OUT/eval-s$seed"
    [ -f "$eval/report.json" ] || $SYNTH --quiet eval-gain --dataset "$DATASET" --per-class "$PC" \
        --synthetic "none=$OUT/gan-none-s$seed/samples" --synthetic "mild=$OUT/gan-mild-s$seed/samples" \
        --synthetic-only true --score-split val --shift none --eps 0 --seeds 5 --out "$eval" --force >/dev/null
done

python3 - "$OUT" $SEEDS <<'PY'
import json, os, sys
out, seeds = sys.argv[1], sys.argv[2:]
columns = [("val CAS", None), ("gan only", "{} only"), ("real + gan", "real + {}"),
           ("real + augment + gan", "real + augment + {}")]
def clean(report, name):
    for c in report["conditions"]:
        if c["name"] == name:
            return 100 * sum(s["clean"] for s in c["seeds"]) / len(c["seeds"])
    raise SystemExit(f"no condition {name!r} in the report")
rows = []
for seed in seeds:
    report = json.load(open(os.path.join(out, f"eval-s{seed}", "report.json")))
    row = []
    for _, pattern in columns:
        for name in ("none", "mild"):
            if pattern is None:
                m = json.load(open(os.path.join(out, f"gan-{name}-s{seed}", "metrics.json")))
                row.append(100 * m["cas_val"])
            else:
                row.append(clean(report, pattern.format(name)))
    rows.append((seed, row))
means = [sum(r[1][i] for r in rows) / len(rows) for i in range(len(rows[0][1]))]
print("| GAN seed | " + " | ".join(f"{c} {n}" for c, _ in columns for n in ("none", "mild")) + " |")
print("|---" * (1 + 2 * len(columns)) + "|")
for seed, row in rows + [("mean", means)]:
    print(f"| {seed} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
PY
