#!/usr/bin/env python3
"""Prints the `tessera simulate` config of a live validation run: the trace and profile in the run's
folder, SLOs loose enough never to matter, and one system deployed as the live one was — one
monolithic instance, or a topology file's groups and worker roles (a prefill worker in a group
without encode workers runs the vision encoder itself, and a decode worker samples a handed-over
request's first token, as the live ones do).

    python3 scripts/sim/validation_config.py [--topology examples/topologies/pd.yaml] > simulate.json
"""
import argparse
import json

import yaml


def slots(topology):
    if topology is None:
        return [{"role": "mono", "group": "text", "count": 1}]
    with open(topology) as f:
        spec = yaml.safe_load(f)
    out = []
    for group in spec["groups"]:
        roles = {w["role"] for w in group["workers"]}
        for worker in group["workers"]:
            role = worker["role"]
            if role == "prefill" and "encode" not in roles:
                role = "encodePrefill"
            out.append({"role": role, "group": group["group"], "count": worker.get("count", 1)})
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--topology")
    a = p.parse_args()
    config = {
        "name": "live-validation", "costModel": "profile.json",
        "trace": {"file": "trace.jsonl", "format": "jsonl"},
        "slo": {"classes": {"standard": {"ttft": 1000, "tpot": 1000}}},
        # Tessera's decode workers sample a handed-over request's first token.
        "systems": [{"name": "tessera-serve", "deployment": {"slots": slots(a.topology)}, "firstTokenOnDecode": True}],
    }
    print(json.dumps(config, indent=1))


if __name__ == "__main__":
    main()
