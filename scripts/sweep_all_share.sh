#!/usr/bin/env bash
# Reproduces the choice of eval-gain's `all_share` (configs/eval-gain.toml; issue 16: real + all should earn a clean
# gain over real). For each composition, eval-gain fits every default condition over the seeds, scored on the
# held-out validation images (`--score-split val`: never the test split), reusing the default run's cached sets.
# Usage: scripts/sweep_all_share.sh [WORK_DIR] [SEEDS] [SHARES...]   e.g. scripts/sweep_all_share.sh /tmp/as 10 equal each
# About 15 minutes per composition at 10 seeds on 2 cores (90 fits; the sets come from the cache, or are made once).
set -euo pipefail
work=${1:-outputs/sweep-all-share}; shift || true
seeds=${1:-10}; shift || true
shares=("$@"); [ ${#shares[@]} -gt 0 ] || shares=(equal each)
cargo build --quiet
s=target/debug/synth
mkdir -p "$work"
echo "| all_share | real + all train images | val real % | val real + all % | real + all clean gain (pp) | real + all over real + augment (pp) |"
echo "|---|---|---|---|---|---|"
for share in "${shares[@]}"; do
  out="$work/$share"
  [ -f "$out/report.json" ] || $s --quiet eval-gain --all-share "$share" --seeds "$seeds" --shift none --eps 0 \
    --score-split val --out "$out" --tb-dir "$work/tb" --force > /dev/null
  python3 - "$share" "$out/report.json" <<'PY'
import json, sys
share, path = sys.argv[1:3]
report = json.load(open(path))
conditions = {c["name"]: c for c in report["conditions"]}
real, every, augment = conditions["real"], conditions["real + all"], conditions["real + augment"]
def gain(g):
    return f"{100 * g['mean']:+.2f} [{100 * g['ci_low']:+.2f}, {100 * g['ci_high']:+.2f}]"
pairs = [a - b for a, b in zip((s["clean"] for s in every["seeds"]), (s["clean"] for s in augment["seeds"]))]
n = len(pairs); m = sum(pairs) / n
sd = (sum((p - m) ** 2 for p in pairs) / (n - 1)) ** 0.5
first = every["seeds"][0]
print(f"| {share} | {first['real_images']} + {first['synthetic_images']} | {100 * real['clean']['mean']:.2f} | {100 * every['clean']['mean']:.2f} "
      f"| {gain(every['gain_clean']['gain'])} | {100 * m:+.2f} (s_d {100 * sd:.2f}) |")
PY
done
