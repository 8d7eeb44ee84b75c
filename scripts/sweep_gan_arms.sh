#!/usr/bin/env bash
# Compares two settings of synth gan the way eval-gain uses its images, on the VALIDATION split (never test), and
# prints the table the README's "GAN sweep" shows. Each arm is a name and the `synth gan` flags that set it apart
# from the defaults; the two re-measurements of the low-data defaults:
#
#   scripts/sweep_gan_arms.sh                    # the real-image augmentation: none vs mild (GAN seeds 0 and 1)
#   A="g1000 --min-steps 1000" B="g2000 --min-steps 2000" SEEDS=0 scripts/sweep_gan_arms.sh    # the schedule length
#   DATASET=path/to/images PC=50 SEEDS="0 1 2" scripts/sweep_gan_arms.sh                      # re-tune elsewhere
#
# For each GAN seed it trains both GANs (the defaults otherwise, at --train-per-class PC: since 2026-12-02 2,000
# steps, the mild real-image augmentation and the class-consistency filter) and scores both sets the way eval-gain
# uses them: `synth eval-gain --synthetic A=... --synthetic B=... --synthetic-only true --score-split val` (VGG16
# fitted on 200 of a set's images alone, with the real subset, and with it and the augment set; accuracy on the
# held-out validation images, 5 seeds). The validation CAS of each GAN (the small cnn on all 5,000 images) is
# printed beside it. Finished runs (metrics.json, report.json present) are reused. 4-8 min per GAN and 11-14 min per
# eval-gain on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-mnist}
PC=${PC:-20}
SEEDS=${SEEDS:-0 1}
MILD=rotate:10@0.5,translate:2@0.5,scale:0.1@0.5
A=${A:-none --real-augment none}
B=${B:-mild --real-augment $MILD}
OUT=${OUT:-outputs/sweep-gan/$(basename "$DATASET")-pc$PC}
SYNTH=${SYNTH:-cargo run --quiet --}
read -r a_name _ <<<"$A"
read -r b_name _ <<<"$B"

for seed in $SEEDS; do
    for arm in "$A" "$B"; do
        read -r name flags <<<"$arm"
        run="$OUT/gan-$name-s$seed"
        # shellcheck disable=SC2086 # the arm's flags are words
        [ -f "$run/metrics.json" ] || $SYNTH --quiet gan --dataset "$DATASET" --train-per-class "$PC" --seed "$seed" \
            $flags --out "$run" --force >/dev/null
    done
    eval="$OUT/eval-$a_name-$b_name-s$seed"
    [ -f "$eval/report.json" ] || $SYNTH --quiet eval-gain --dataset "$DATASET" --per-class "$PC" \
        --synthetic "$a_name=$OUT/gan-$a_name-s$seed/samples" --synthetic "$b_name=$OUT/gan-$b_name-s$seed/samples" \
        --synthetic-only true --score-split val --shift none --eps 0 --seeds 5 --out "$eval" --force >/dev/null
done

python3 - "$OUT" "$a_name" "$b_name" $SEEDS <<'PY'
import json, os, sys
out, arms, seeds = sys.argv[1], sys.argv[2:4], sys.argv[4:]
columns = [("val CAS", None), ("gan only", "{} only"), ("real + gan", "real + {}"),
           ("real + augment + gan", "real + augment + {}")]
def clean(report, name):
    for c in report["conditions"]:
        if c["name"] == name:
            return 100 * sum(s["clean"] for s in c["seeds"]) / len(c["seeds"])
    raise SystemExit(f"no condition {name!r} in the report")
rows = []
for seed in seeds:
    report = json.load(open(os.path.join(out, f"eval-{arms[0]}-{arms[1]}-s{seed}", "report.json")))
    row = []
    for _, pattern in columns:
        for name in arms:
            if pattern is None:
                m = json.load(open(os.path.join(out, f"gan-{name}-s{seed}", "metrics.json")))
                row.append(100 * m["cas_val"])
            else:
                row.append(clean(report, pattern.format(name)))
    rows.append((seed, row))
means = [sum(r[1][i] for r in rows) / len(rows) for i in range(len(rows[0][1]))]
print("| GAN seed | " + " | ".join(f"{c} {n}" for c, _ in columns for n in arms) + " |")
print("|---" * (1 + 2 * len(columns)) + "|")
for seed, row in rows + [("mean", means)]:
    print(f"| {seed} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
PY
