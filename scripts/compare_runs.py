#!/usr/bin/env python3
"""Compares two output trees of scripts/same_bytes.sh: every file byte for byte, except that JSON files are compared
with their timing fields (seconds, *_seconds) removed, wall times in Markdown ("35 s") are masked, TensorBoard folders
are skipped (event files hold clock times), safetensors are compared by header content and tensor bytes (burn
writes the metadata map in a varying order) and burn's .bpk records are skipped: they carry random parameter ids that
differ on every run even of the same binary (the weights they hold are compared through the images they make).
Prints each difference and exits 1 when there is one."""
import json, os, re, sys

def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not (k == "seconds" or k.endswith("_seconds"))}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v

def safetensors(b):
    """The header (metadata order is a hash map's, so it varies run to run) as a dict, and the tensor bytes."""
    import struct
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]

def files(root):
    out = {}
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x != "tb"]
        for n in names:
            if n.endswith(".bpk"):
                continue
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = p
    return out

a, b = files(sys.argv[1]), files(sys.argv[2])
bad = 0
for rel in sorted(set(a) | set(b)):
    if rel not in a or rel not in b:
        print("only in one:", rel); bad += 1; continue
    x, y = open(a[rel], "rb").read(), open(b[rel], "rb").read()
    if rel.endswith(".json") or rel.endswith(".jsonl"):
        try:
            lines = lambda t: [strip(json.loads(l)) for l in t.decode().splitlines() if l.strip()] if rel.endswith(".jsonl") else strip(json.loads(t))
            same = lines(x) == lines(y)
        except Exception:
            same = x == y
    elif rel.endswith(".safetensors"):
        same = safetensors(x) == safetensors(y)
    elif rel.endswith(".md"):
        mask = lambda t: re.sub(rb"\d+ s\b", b"N s", t)
        same = mask(x) == mask(y)
    else:
        same = x == y
    if not same:
        print("differs:", rel); bad += 1
print(f"{len(a)} files compared, {bad} differences")
sys.exit(1 if bad else 0)
