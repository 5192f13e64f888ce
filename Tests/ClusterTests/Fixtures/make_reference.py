"""Reference for the output-length predictor: the same hashed features and full-batch gradient
descent written independently in plain Python, on a fixed small data set.

Run: python3 Tests/ClusterTests/Fixtures/make_reference.py  (writes predictor_reference.json here)
"""
import json
import math
import random
import re
from pathlib import Path

BOUNDS, BUCKETS, EPOCHS, LR, L2 = [64, 256, 1024], 64, 40, 0.5, 1e-4


def fnv1a(s):
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def features(prompt, tokens):
    words = re.findall(r"[a-z0-9]+", prompt.lower())
    keys = ["w:" + w for w in words] + ["b:" + a + " " + b for a, b in zip(words, words[1:])]
    keys.append("len:%d" % ((max(0, tokens) + 1).bit_length() - 1))
    return [fnv1a(k) % BUCKETS for k in keys]


def label(n):
    for i, b in enumerate(BOUNDS):
        if n < b:
            return i
    return len(BOUNDS)


def probabilities(w, bias, x):
    k = len(bias)
    logits = list(bias)
    for c in range(k):
        for f in x:
            logits[c] += w[c * BUCKETS + f]
    top = max(logits)
    e = [math.exp(v - top) for v in logits]
    s = sum(e)
    return [v / s for v in e]


def train(samples):
    k = len(BOUNDS) + 1
    w, bias = [0.0] * (k * BUCKETS), [0.0] * k
    xs = [features(p, t) for p, t, _ in samples]
    ys = [label(o) for _, _, o in samples]
    scale = 1 / len(samples)
    for _ in range(EPOCHS):
        gw, gb = [0.0] * len(w), [0.0] * k
        for x, y in zip(xs, ys):
            p = probabilities(w, bias, x)
            for c in range(k):
                g = (p[c] - (1 if c == y else 0)) * scale
                gb[c] += g
                for f in x:
                    gw[c * BUCKETS + f] += g
        for i in range(len(w)):
            w[i] -= LR * (gw[i] + L2 * w[i])
        for c in range(k):
            bias[c] -= LR * gb[c]
    return w, bias


rng = random.Random(3)
verbs = ["answer yes or no", "describe briefly", "explain in detail", "write a long essay about", "list facts about", "caption"]
lengths = [5, 40, 300, 1400, 120, 20]
nouns = ["the dog", "a chart", "rome", "compilers", "the street", "jazz"]
samples = []
for i in range(60):
    v = rng.randrange(len(verbs))
    prompt = verbs[v] + " " + rng.choice(nouns)
    out = max(1, int(lengths[v] * math.exp(rng.gauss(0, 0.6))))
    samples.append((prompt, rng.randrange(5, 3000), out))
w, bias = train(samples)
queries = [("explain in detail the street", 900), ("answer yes or no a chart", 12), ("write a long essay about jazz", 40), ("something unseen", 2000)]
out = dict(bounds=BOUNDS, buckets=BUCKETS, epochs=EPOCHS, learningRate=LR, l2=L2,
           samples=[dict(prompt=p, promptTokens=t, outputTokens=o) for p, t, o in samples],
           bias=bias, weightSum=sum(w), queries=[dict(prompt=p, promptTokens=t, probabilities=probabilities(w, bias, features(p, t))) for p, t in queries])
(Path(__file__).parent / "predictor_reference.json").write_text(json.dumps(out, indent=1) + "\n")
print("ok")
