"""Reads the lines of engine_vs_llamacpp.sh from stdin — `ENGINE FILE THREADS {json}`, `load A B C`,
`bandwidth THREADS GB/s` — and prints a Markdown table per thread count: median prefill (pp512) and
decode (tg128) tokens/s of both engines and their ratio, the decode ceiling (read bandwidth ÷ bytes
a decode step reads: every tensor of the file once, the token embedding only where the output head
is a separate tensor), and the load averages seen."""

import json
import statistics
import sys
from pathlib import Path

import gguf

KEYS = ("prefill_tokens_per_s", "decode_tokens_per_s")


def decode_bytes(path: str) -> int:
    tensors = gguf.GGUFReader(path).tensors
    tied = not any(t.name == "output.weight" for t in tensors)
    return sum(int(t.n_bytes) for t in tensors if tied or t.name != "token_embd.weight")


runs: dict[tuple[str, str, str], list[dict]] = {}
loads: list[float] = []
bandwidth: dict[str, float] = {}
for line in sys.stdin:
    kind, rest = line.split(" ", 1)
    if kind == "load":
        loads.append(float(rest.split()[0]))
    elif kind == "bandwidth":
        threads, rate = rest.split()
        bandwidth[threads] = float(rate)
    else:
        path, threads, obj = rest.split(" ", 2)
        runs.setdefault((kind, path, threads), []).append(json.loads(obj))

med = {key: {k: statistics.median(r[k] for r in rs) for k in KEYS} for key, rs in runs.items()}
files = list(dict.fromkeys(path for _, path, _ in runs))
for threads in sorted({t for _, _, t in runs}):
    bw = bandwidth.get(threads)
    print(f"\n{threads} thread(s); read bandwidth {bw} GB/s\n")
    print("| file | tessera pp512 | llama.cpp pp512 | ratio | tessera tg128 | llama.cpp tg128 | ratio | MB/token | ceiling t/s | tessera % of ceiling |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in files:
        t, l = med.get(("tessera", path, threads)), med.get(("llama.cpp", path, threads))
        if not t or not l:
            continue
        mb = decode_bytes(path) / 1e6
        ceiling = bw * 1e3 / mb if bw else float("nan")
        print(f"| {Path(path).name} | {t[KEYS[0]]:.1f} | {l[KEYS[0]]:.1f} | **{t[KEYS[0]] / l[KEYS[0]]:.2f}×** "
              f"| {t[KEYS[1]]:.1f} | {l[KEYS[1]]:.1f} | **{t[KEYS[1]] / l[KEYS[1]]:.2f}×** "
              f"| {mb:.1f} | {ceiling:.0f} | {100 * t[KEYS[1]] / ceiling:.0f}% |")
if loads:
    print(f"\nload average (1 min) during the run: {min(loads):.2f} – {max(loads):.2f}")
