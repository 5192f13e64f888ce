"""Reads lines `ENGINE {json}` from stdin (several runs per engine) and prints a Markdown table of
median prefill and decode tokens/s and the Tessera / llama.cpp ratio."""

import json
import statistics
import sys

KEYS = ("prefill_tokens_per_s", "decode_tokens_per_s")
runs: dict[str, list[dict]] = {}
for line in sys.stdin:
    name, obj = line.split(" ", 1)
    runs.setdefault(name, []).append(json.loads(obj))
med = {name: {k: statistics.median(r[k] for r in rs) for k in KEYS} for name, rs in runs.items()}
print("| engine | runs | pp512 t/s (median) | tg128 t/s (median) |")
print("|---|---:|---:|---:|")
for name in ("tessera", "llama.cpp"):
    m = med[name]
    print(f"| {name} | {len(runs[name])} | {m[KEYS[0]]:.1f} | {m[KEYS[1]]:.1f} |")
t, l = med["tessera"], med["llama.cpp"]
print(f"| **tessera / llama.cpp** | | **{t[KEYS[0]] / l[KEYS[0]]:.2f}×** | **{t[KEYS[1]] / l[KEYS[1]]:.2f}×** |")
