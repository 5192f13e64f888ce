#!/usr/bin/env python3
"""Writes the single-instance validation trace: Poisson arrivals, prompts of random vocabulary words
whose token counts come from the model's own tokenizer (special tokens included, as the server
counts them), in the simulator's JSONL format with the prompt text, so `tessera bench serve`
replays the same file.

    python3 scripts/sim/validation_trace.py --model DIR --out trace.jsonl --requests 200 --rate 20
"""
import argparse
import json
import random

from tokenizers import Tokenizer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--rate", type=float, default=20.0, help="mean arrivals per second")
    p.add_argument("--min-prompt", type=int, default=24)
    p.add_argument("--max-prompt", type=int, default=160)
    p.add_argument("--min-output", type=int, default=8)
    p.add_argument("--max-output", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    rng = random.Random(a.seed)
    tok = Tokenizer.from_file(f"{a.model}/tokenizer.json")
    special = {t.content for t in tok.get_added_tokens_decoder().values() if t.special}
    words = [w.lstrip("\u2581Ġ") for w in tok.get_vocab() if w.isascii() and w.strip("\u2581Ġ").isalpha() and w not in special]
    words = sorted({w for w in words if w})
    t = 0.0
    with open(a.out, "w") as f:
        for _ in range(a.requests):
            t += rng.expovariate(a.rate)
            target = rng.randint(a.min_prompt, a.max_prompt)
            text = []
            while len(tok.encode(" ".join(text)).ids) < target:
                text.append(rng.choice(words))
            prompt = " ".join(text)
            line = {"arrival": round(t, 6), "text_tokens": len(tok.encode(prompt).ids), "images": [],
                    "output_tokens": rng.randint(a.min_output, a.max_output), "prompt": prompt}
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
