#!/usr/bin/env python3
"""Prints live (tessera bench serve --result-json) against simulated (tessera simulate results.json)
TTFT p50/p99 and TPOT for the single-instance validation, with both percentiles computed the way
the bench computes them (linear interpolation) from the simulator's per-run summary.

    python3 scripts/sim/compare_validation.py live.json sim/results.json
"""
import json
import sys


def main():
    live = json.load(open(sys.argv[1]))
    sim = json.load(open(sys.argv[2]))["runs"][0]
    rows = [
        ("TTFT mean (ms)", live["ttft_ms"]["mean"], sim["ttft"]["mean"] * 1000),
        ("TTFT p50 (ms)", live["ttft_ms"]["median"], sim["ttft"]["p50"] * 1000),
        ("TTFT p99 (ms)", live["ttft_ms"]["p99"], sim["ttft"]["p99"] * 1000),
        ("TPOT p50 (ms)", live["tpot_ms"]["median"], sim["tpot"]["p50"] * 1000),
        ("TPOT p99 (ms)", live["tpot_ms"]["p99"], sim["tpot"]["p99"] * 1000),
    ]
    print(f"{'metric':16} {'live':>10} {'simulated':>10} {'sim/live':>9}")
    for name, l, s in rows:
        print(f"{name:16} {l:10.2f} {s:10.2f} {s / l if l else float('nan'):9.2f}")
    ttft = [abs(s / l - 1) for name, l, s in rows[1:3] if l]
    print(f"TTFT p50 and p99 within 25 %: {'yes' if len(ttft) == 2 and max(ttft) <= 0.25 else 'no'}")
    print(f"completed live {live['completed']}, simulated {sim['completed']}/{sim['requests']}")


if __name__ == "__main__":
    main()
