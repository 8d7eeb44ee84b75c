#!/usr/bin/env python3
"""Does a policy search's child reward rank policies the way the final classifier does? (issue 18, item 4)

    scripts/policy_rank.py pick outputs/policy/mnist-pc20-budget60/report.json OUT 6
    for i in 0 1 2 3 4 5; do
      cargo run -- eval-gain --sources augment --policy OUT/p$i.toml --seeds 3 --shift none --eps 0 --out OUT/out$i
    done
    scripts/policy_rank.py corr OUT

`pick` takes the distinct policies the rl and random searches tried, sorted by child reward, and writes K of them
spread evenly over that range as OUT/p<i>.toml (with OUT/picks.txt). `corr` reads each OUT/out<i>/report.json and
prints the Spearman rank correlation (average ranks for ties) between child reward and the final classifier's clean
test accuracy of `real + policy`, its gain over `real + augment` and its best validation accuracy, each with a
one-sided exact permutation p-value (every ordering of the K outcomes).
"""
import itertools
import json
import os
import re
import sys


def pick(report, out, k):
    episodes = [e for e in json.load(open(report))["episodes"] if e["method"] in ("rl", "random")]
    best = {}
    for e in episodes:
        key = json.dumps(e["policy"], sort_keys=True)
        if key not in best or e["reward"] > best[key]["reward"]:
            best[key] = e
    ordered = sorted(best.values(), key=lambda e: e["reward"])
    picks = [ordered[round(i * (len(ordered) - 1) / (k - 1))] for i in range(k)]
    os.makedirs(out, exist_ok=True)
    lines_out = []
    for i, e in enumerate(picks):
        p = e["policy"]
        lines = [f"mix = {float(p['mix'])}", "sub_policies = " + json.dumps(p["sub_policies"])]
        for s in p.get("synthetic", []):
            lines += ["", "[[synthetic]]", f"source = {json.dumps(s['source'])}", f"share = {float(s['share'])}"]
        open(f"{out}/p{i}.toml", "w").write("\n".join(lines) + "\n")
        lines_out.append(f"p{i} reward {e['reward']:.4f} {e['method']} seed {e['search_seed']} ep {e['episode']}: "
                         + json.dumps(p))
    open(f"{out}/picks.txt", "w").write("\n".join(lines_out) + "\n")
    print("\n".join(lines_out))


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    k = 0
    while k < len(order):
        j = k
        while j + 1 < len(order) and values[order[j + 1]] == values[order[k]]:
            j += 1
        for t in range(k, j + 1):
            out[order[t]] = (k + j) / 2
        k = j + 1
    return out


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)
    return cov / var ** 0.5 if var > 0 else float("nan")


def corr(out):
    rewards = {}
    for line in open(f"{out}/picks.txt"):
        m = re.match(r"p(\d+) reward ([0-9.]+)", line)
        if m:
            rewards[int(m.group(1))] = float(m.group(2))
    rows = []
    for i in sorted(rewards):
        path = f"{out}/out{i}/report.json"
        if not os.path.exists(path):
            print(f"p{i}: no {path}, skipped")
            continue
        cond = {c["name"]: c for c in json.load(open(path))["conditions"]}
        policy = cond["real + policy"]
        acc, aug = policy["clean"]["mean"], cond["real + augment"]["clean"]["mean"]
        half = (policy["clean"]["ci_high"] - policy["clean"]["ci_low"]) / 2
        val = sum(s["best_val_accuracy"] for s in policy["seeds"]) / len(policy["seeds"])
        rows.append((rewards[i], acc, acc - aug, val))
        print(f"p{i}: child reward {100 * rewards[i]:.2f}%, real + policy clean {100 * acc:.2f}% +- {100 * half:.2f}, "
              f"vs real + augment {100 * (acc - aug):+.2f} pp, best val {100 * val:.2f}%")
    if len(rows) < 3:
        sys.exit("need at least 3 finished policies")
    reward = [r[0] for r in rows]
    for col, name in ((1, "clean test accuracy"), (2, "gain over real + augment"), (3, "best validation accuracy")):
        outcome = [r[col] for r in rows]
        rho = spearman(reward, outcome)
        perms = [spearman(reward, [outcome[j] for j in p]) for p in itertools.permutations(range(len(rows)))]
        p = sum(1 for x in perms if x >= rho - 1e-12) / len(perms)
        print(f"Spearman(child reward, {name}) over {len(rows)} policies: {rho:+.3f} (one-sided permutation p {p:.3f})")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "pick":
        pick(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 3 and sys.argv[1] == "corr":
        corr(sys.argv[2])
    else:
        sys.exit(__doc__)
