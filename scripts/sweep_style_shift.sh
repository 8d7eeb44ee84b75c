#!/usr/bin/env bash
# Reproduces the choice of eval-gain's style strength range (`style_strength` in configs/eval-gain.toml; issue 16:
# real + style should help on mnist-m without costing clean accuracy). For each range, eval-gain makes the style set of
# the 20-per-class subset at that strength (its label agreement under the cnn fitted on the subset goes into the
# table) and fits real, real + augment, real + style and real + augment + style over the seeds, scored on the
# held-out validation images and on mnist-m blended from those same validation images (`--score-split val --shift
# mnist-m`: never the test split).
# Usage: scripts/sweep_style_shift.sh [WORK_DIR] [SEEDS] [RANGES...]   e.g. scripts/sweep_style_shift.sh /tmp/ss 10 0.1:0.4 0.5:1:texture
# A range may end in flags: :colour makes the set in the stylised colours (style_colour = true) instead of grey,
# :texture starts each image's optimisation from the digit cut out of its style image (style_init = "texture");
# both: 0.5:1:texture:colour.
# About 12 minutes per range at 10 seeds on 2 cores (the style set about a minute, 50 fits of about 14 s).
set -euo pipefail
work=${1:-outputs/sweep-style-shift}; shift || true
seeds=${1:-10}; shift || true
ranges=("$@"); [ ${#ranges[@]} -gt 0 ] || ranges=(0.1:0.4 0.3:0.7 0.5:1)
cargo build --quiet
s=target/debug/synth
mkdir -p "$work"
echo "| strength | label agreement | val real % | real + style clean gain (pp) | real + style mnist-m gain (pp) | real + augment + style over real + augment, mnist-m (pp) |"
echo "|---|---|---|---|---|---|"
for r in "${ranges[@]}"; do
  IFS=: read -r lo hi flags <<< "$r"
  colour=false; init=content
  case ":$flags:" in *:colour:*) colour=true;; esac
  case ":$flags:" in *:texture:*) init=texture;; esac
  name="strength-$lo-$hi"; [ $init = texture ] && name="$name-texture"; [ $colour = true ] && name="$name-colour"
  out="$work/$name"; config="$work/$name.toml"
  sed -e "s/^style_strength = .*/style_strength = [$lo, $hi]/" -e "s/^style_colour = .*/style_colour = $colour/" \
    -e "s/^style_init = .*/style_init = \"$init\"/" configs/eval-gain.toml > "$config"
  grep -q "^style_colour = $colour" "$config" || { echo "configs/eval-gain.toml has no style_colour line" >&2; exit 2; }
  grep -q "^style_init = \"$init\"" "$config" || { echo "configs/eval-gain.toml has no style_init line" >&2; exit 2; }
  grep -q "^style_strength = \[$lo, $hi\]" "$config" || { echo "configs/eval-gain.toml has no style_strength line" >&2; exit 2; }
  [ -f "$out/report.json" ] || $s --quiet eval-gain --config "$config" --sources style --seeds "$seeds" \
    --shift mnist-m --eps 0 --score-split val --cache-dir "$work/cache" --out "$out" --tb-dir "$work/tb" --force \
    > /dev/null
  python3 - "$lo:$hi$( [ $init = texture ] && echo ', texture')$( [ $colour = true ] && echo ', colour')" "$out/report.json" <<'PY'
import json, sys
strength, path = sys.argv[1:3]
report = json.load(open(path))
style = next(s for s in report["sources"] if s["name"] == "style")
origin = json.load(open(style["path"] + "/origin.json"))
agreement = origin["config"]["style"].get("label_agreement", {}).get("share")
conditions = {c["name"]: c for c in report["conditions"]}
def gain(g):
    return f"{100 * g['gain']['mean']:+.2f} [{100 * g['gain']['ci_low']:+.2f}, {100 * g['gain']['ci_high']:+.2f}]"
real, with_style, both = conditions["real"], conditions["real + style"], conditions["real + augment + style"]
print(f"| [{strength.replace(':', ', ', 1)}] | {100 * agreement:.1f}% | {100 * real['clean']['mean']:.2f} "
      f"| {gain(with_style['gain_clean'])} | {gain(with_style['gain_shifted']['mnist-m'])} "
      f"| {gain(both['gain_shifted_vs_augment']['mnist-m'])} |")
PY
done
