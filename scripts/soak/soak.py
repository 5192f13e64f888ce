#!/usr/bin/env python3
"""Soak test of `tessera serve --topology`: a mixed load (text, images, streaming, client
disconnects, and overload bursts of 3x the server's capacity) for a fixed time while random worker
processes are killed (SIGKILL) or stopped for a while (SIGSTOP, then SIGCONT), then checks that:

1. every request the server accepted was answered in full or failed with a clear error (an
   OpenAI error body, or an error event in the stream): none ends empty, truncated, or hangs;
2. no KV blocks leak: once idle, the KV cache usage (`tessera:kv_cache_usage_perc` and each pool's
   `tessera:pool_kv_cache_usage_perc`) is back to its idle level after the warm-up, at the latest
   when the workers' parked-KV timeout (60 s) has freed KV that no decode worker pulled;
3. RSS (the front end's, each worker's, and the front end's plus its workers') is within 20% of its
   level after the warm-up, once idle. The warm-up ends by making the workers' KV pools resident
   (`fill_kv`): a pool's pages are touched one block at a time as the block manager cycles through
   its free blocks, which in a ten-minute soak grows each prefill or decode worker by up to its
   `--kv-cache-memory` (64 MiB here) and is bounded, not a leak;
4. no restart storm: at most one worker restart per injected fault, and /health is 200 again
   within a minute of the last one.

Prints a Markdown table row per check and exits non-zero when one fails.

    scripts/soak/run.sh pd 600     # the wrapper builds the binary and starts the server
"""
import argparse
import base64
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMAGES = sorted((ROOT / "fixtures/images/good").glob("*.png")) + sorted((ROOT / "fixtures/images/good").glob("*.jpg"))
PROMPTS = ["Tell me a story about a lighthouse.", "List three prime numbers.", "What is the capital of France?",
           "Write a haiku about rain.", "Explain KV caches in one sentence.", "Count from one to ten."]


def metrics(base):
    """Every sample of /metrics as {(name, labels): value}."""
    from prometheus_client import parser
    text = requests.get(base + "/metrics", timeout=30).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in parser.text_string_to_metric_families(text) for s in family.samples}


def values(sample, name):
    return {labels: v for (n, labels), v in sample.items() if n == name}


def rss_kib(pid):
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_kib(pid):
    """{field: KiB} of the process's resident memory: VmRSS and its anonymous, file-backed and shared
    parts (/proc/PID/status), and its proportional share (Pss, /proc/PID/smaps_rollup)."""
    found = {}
    try:
        for path in (f"/proc/{pid}/status", f"/proc/{pid}/smaps_rollup"):
            for line in pathlib.Path(path).read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Pss", "Pss_Anon", "Pss_File", "Private_Dirty"):
                    found[key] = int(rest.split()[0])
    except OSError:
        pass
    return found


class Sampler(threading.Thread):
    """Every `period` seconds, appends one JSON line to `path`: the time, each process's memory
    (`memory_kib`, the front end under pid 0's role "front-end") and the server's gauges."""

    def __init__(self, base, server, path, period=5):
        super().__init__(daemon=True)
        self.base, self.server, self.path, self.period = base, server, path, period
        self.stop = threading.Event()
        self.phase = "warm-up"

    def run(self):
        start = time.monotonic()
        with open(self.path, "w") as out:
            while not self.stop.wait(self.period):
                processes = {str(self.server): {"role": "front-end", **memory_kib(self.server)}}
                for pid, role in workers(self.server).items():
                    processes[str(pid)] = {"role": role, **memory_kib(pid)}
                try:
                    gauges = {name + ("{" + ",".join(f"{k}={v}" for k, v in labels) + "}" if labels else ""): value
                              for (name, labels), value in metrics(self.base).items()
                              if not name.endswith(("_bucket", "_sum", "_count", "_created"))}
                except Exception as error:
                    gauges = {"error": str(error)}
                out.write(json.dumps({"t": round(time.monotonic() - start, 1), "phase": self.phase,
                                      "processes": processes, "metrics": gauges}) + "\n")
                out.flush()


def workers(server):
    """{pid: role} of the server's worker processes."""
    found = {}
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] != str(server):
                continue
            arguments = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if b"worker" in arguments and b"--role" in arguments:
            found[int(stat.parent.name)] = arguments[arguments.index(b"--role") + 1].decode()
    return found


class Load:
    """Client threads sending a random mix of requests and recording how each one ended."""

    def __init__(self, base, model, seed):
        self.base, self.model = base, model
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.outcomes = Counter()
        self.failures = []  # (kind, what happened) for every request that did not end cleanly
        self.latest = time.monotonic()
        self.images = [("image/png" if p.suffix == ".png" else "image/jpeg", base64.b64encode(p.read_bytes()).decode()) for p in IMAGES]

    def record(self, outcome, kind, detail=None):
        with self.lock:
            self.outcomes[outcome] += 1
            if detail is not None:
                self.failures.append((kind, detail))

    def body(self, kind, rng):
        content = rng.choice(PROMPTS)
        if kind.startswith("image"):
            mime, data = rng.choice(self.images)
            content = [{"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}},
                       {"type": "text", "text": "What is in this image? " + content}]
        return {"model": self.model, "messages": [{"role": "user", "content": content}],
                "max_tokens": rng.randint(4, 48), "temperature": rng.choice([0, 0.7]),
                "stream": kind.endswith("stream") or kind == "disconnect"}

    def one(self, kind, rng):
        """Sends one request of `kind` and records its outcome: `answered`, `error` (a clear error
        status with an OpenAI error body, or an error event mid-stream), `disconnected` (the client
        left on purpose), or a failure (`empty`, `truncated`, `unclear-error`, `hang`, `refused`)."""
        body = self.body(kind, rng)
        try:
            response = requests.post(self.base + "/v1/chat/completions", json=body, stream=body["stream"], timeout=(10, 300))
        except requests.exceptions.Timeout:
            return self.record("hang", kind, "no response headers within 300 s")
        except requests.exceptions.ConnectionError as error:
            return self.record("refused", kind, f"connection failed: {error}")
        with response:
            if response.status_code != 200:
                try:
                    message = response.json()["error"]["message"]
                    assert message
                except Exception:
                    return self.record("unclear-error", kind, f"{response.status_code}: {response.text[:200]!r}")
                return self.record(f"error-{response.status_code}", kind)
            if not body["stream"]:
                try:
                    choice = response.json()["choices"][0]
                except Exception as error:
                    return self.record("truncated", kind, f"unreadable body: {error}")
                if choice.get("finish_reason") not in ("stop", "length") or not choice["message"].get("content"):
                    return self.record("empty", kind, json.dumps(choice)[:200])
                return self.record("answered", kind)
            text, finish, leave_after = "", None, rng.randint(1, 6) if kind == "disconnect" else None
            try:
                for line in response.iter_lines(chunk_size=None):
                    if not line.startswith(b"data: "):
                        continue
                    data = line[6:]
                    if data == b"[DONE]":
                        if finish is None:
                            return self.record("truncated", kind, "[DONE] without a finish_reason")
                        if not text:
                            return self.record("empty", kind, f"finish_reason {finish} with no text")
                        return self.record("answered", kind)
                    event = json.loads(data)
                    if "error" in event:
                        if not event["error"].get("message"):
                            return self.record("unclear-error", kind, data[:200])
                        return self.record("error-stream", kind)
                    for choice in event.get("choices", []):
                        text += choice.get("delta", {}).get("content") or ""
                        finish = choice.get("finish_reason") or finish
                    if leave_after is not None:
                        leave_after -= 1
                        if leave_after == 0:
                            return self.record("disconnected", kind)
            except requests.exceptions.Timeout:
                return self.record("hang", kind, f"stream stalled for 300 s after {len(text)} characters")
            except requests.exceptions.RequestException as error:
                return self.record("truncated", kind, f"stream broke after {len(text)} characters: {error}")
            return self.record("truncated", kind, f"stream ended without [DONE] after {len(text)} characters")

    KINDS = ["text", "text-stream", "image", "image-stream", "disconnect"]

    def client(self, stop, seed):
        rng = random.Random(seed)
        while not stop.is_set():
            self.one(rng.choice(self.KINDS), rng)

    def burst(self, size, seed):
        """`size` requests at once; returns when all have ended."""
        threads = [threading.Thread(target=self.one, args=(Load.KINDS[i % 4], random.Random(seed + i))) for i in range(size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def anon_kib(server):
    """The anonymous resident memory (RssAnon) of the server's workers together."""
    return sum(memory_kib(pid).get("RssAnon", 0) for pid in workers(server))


def fill_kv(base, model, server, images, seed, limit=300):
    """Sends rounds of long, distinct prompts (text and with an image, so every group's prefill and
    decode workers get some) until the workers' anonymous memory stops growing: a worker's KV pool
    (`--kv-cache-memory`) is allocated untouched, and its block manager hands out the least recently
    freed block first, so its pages become resident one block at a time until every block has been
    used once. After this the pools are resident and later RSS growth is not theirs.
    Returns (rounds, MiB the workers grew)."""
    rng = random.Random(seed)
    start, before, previous, flat, rounds = time.monotonic(), anon_kib(server), anon_kib(server), 0, 0
    words = 80

    def one(i):
        nonlocal words
        text = " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8))) for _ in range(words))
        content = text
        if i % 2:
            mime, data = rng.choice(images)
            content = [{"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}, {"type": "text", "text": text}]
        response = requests.post(base + "/v1/chat/completions", timeout=300, json={
            "model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 1, "temperature": 0})
        if response.status_code == 200 and i == 0:
            # Aim at about 400 prompt tokens of the 512-token context (an image's tokens included).
            words = max(8, int(words * 400 / max(1, response.json()["usage"]["prompt_tokens"])))

    while time.monotonic() - start < limit and flat < 3:
        one(0)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(1, 12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rounds += 1
        now = anon_kib(server)
        flat = flat + 1 if now - previous < 512 else 0
        previous = now
    return rounds, (previous - before) / 1024


def idle(base, timeout=120):
    """Waits until no request runs or waits; returns the settled metrics."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sample = metrics(base)
        busy = sum(values(sample, "tessera:num_requests_running").values()) + sum(values(sample, "tessera:num_requests_waiting").values())
        if busy == 0:
            time.sleep(3)  # workers report KV usage with their heartbeats and the pool gauges update each second
            return metrics(base)
        time.sleep(1)
    raise SystemExit(f"the server did not go idle within {timeout} s")


def kv_usage(sample):
    usage = {"all": max(values(sample, "tessera:kv_cache_usage_perc").values(), default=0.0)}
    for labels, v in values(sample, "tessera:pool_kv_cache_usage_perc").items():
        usage["pool " + ",".join(f"{k}={w}" for k, w in labels if k in ("group", "role", "pool"))] = v
    return usage


def kv_settled(usage, baseline):
    """Whether no pool holds more KV than it did at the baseline."""
    return all(v <= baseline.get(k, 0) + 1e-9 for k, v in usage.items())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--capacity", type=int, required=True, help="requests the server runs plus queues (max-num-seqs x decode workers + max-queued-requests)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--samples", help="a JSON-lines file for the memory and gauge samples (Sampler)")
    args = parser.parse_args()
    base, rng = args.base_url, random.Random(args.seed)
    load = Load(base, args.model, args.seed)
    sampler = Sampler(base, args.server_pid, args.samples) if args.samples else None
    if sampler:
        sampler.start()

    # Warm-up: the same load without faults, then the idle baselines.
    stop = threading.Event()
    clients = [threading.Thread(target=load.client, args=(stop, args.seed * 100 + i)) for i in range(args.clients)]
    for t in clients:
        t.start()
    time.sleep(args.warmup)
    stop.set()
    for t in clients:
        t.join()
    rounds, grown = fill_kv(base, args.model, args.server_pid, load.images, args.seed)
    print(f"KV pools made resident: {rounds} rounds of long prompts, workers' anonymous memory +{grown:.0f} MiB", flush=True)
    warm = idle(base)
    warm_kv = kv_usage(warm)
    warm_rss = rss_kib(args.server_pid)
    warm_workers = {pid: (role, rss_kib(pid)) for pid, role in workers(args.server_pid).items()}
    warm_total = warm_rss + sum(rss for _, rss in warm_workers.values())
    restarts_before = sum(values(warm, "tessera:worker_restarts_total").values())
    warm_outcomes = Counter(load.outcomes)
    print(f"warm-up: {sum(warm_outcomes.values())} requests {dict(warm_outcomes)}; KV {warm_kv}; RSS front end {warm_rss} KiB, total {warm_total} KiB", flush=True)

    # The soak: load, bursts of 3x capacity, and faults.
    if sampler:
        sampler.phase = "soak"
    stop = threading.Event()
    clients = [threading.Thread(target=load.client, args=(stop, args.seed * 1000 + i)) for i in range(args.clients)]
    for t in clients:
        t.start()
    faults, bursts, last_fault = Counter(), 0, time.monotonic()
    end = time.monotonic() + args.duration
    next_burst = time.monotonic() + rng.uniform(30, 60)
    while time.monotonic() < end:
        time.sleep(rng.uniform(10, 25))
        if time.monotonic() >= end:
            break
        if time.monotonic() >= next_burst:
            threading.Thread(target=load.burst, args=(3 * args.capacity, rng.randrange(1 << 30))).start()
            bursts += 1
            next_burst = time.monotonic() + rng.uniform(60, 120)
        pids = workers(args.server_pid)
        if not pids:
            continue
        victim = rng.choice(sorted(pids))
        if rng.random() < 0.5:
            os.kill(victim, signal.SIGKILL)
            faults[f"kill {pids[victim]}"] += 1
        else:
            # Past the heartbeat timeout (3 s by default) the stopped worker is declared hung and replaced.
            pause = rng.uniform(0.5, 8)
            os.kill(victim, signal.SIGSTOP)
            time.sleep(pause)
            try:
                os.kill(victim, signal.SIGCONT)
            except ProcessLookupError:
                pass
            faults[f"stop {pids[victim]} {'>' if pause > 3 else '<'}3s"] += 1
        last_fault = time.monotonic()
        print(f"{time.strftime('%H:%M:%S')} faults {dict(faults)}; outcomes {dict(load.outcomes)}", flush=True)
    stop.set()
    for t in clients:
        t.join()
    while any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):  # a burst still running
        time.sleep(1)

    # Recovery and the checks.
    if sampler:
        sampler.phase = "recovery"
    healthy_after = None
    while time.monotonic() - last_fault < 60:
        if requests.get(base + "/health", timeout=30).status_code == 200:
            healthy_after = time.monotonic() - last_fault
            break
        time.sleep(0.5)
    # A last round of plain requests on the recovered fleet, then idle.
    for i in range(8):
        load.one(Load.KINDS[i % 4], random.Random(i))
    final = idle(base)
    # A parked KV that no decode worker pulls is freed by its prefill worker after the parked-KV
    # timeout (60 s): usage may take that long to settle; past it, a block still held is leaked.
    settle_start = time.monotonic()
    while not kv_settled(kv_usage(final), warm_kv) and time.monotonic() - settle_start < 90:
        time.sleep(2)
        final = metrics(base)
    settled_after = time.monotonic() - settle_start
    final_kv = kv_usage(final)
    final_rss = rss_kib(args.server_pid)
    final_workers = {pid: (role, rss_kib(pid)) for pid, role in workers(args.server_pid).items()}
    final_total = final_rss + sum(rss for _, rss in final_workers.values())
    for pid, (role, rss) in sorted(final_workers.items(), key=lambda item: item[1][0]):
        before = f"{warm_workers[pid][1] / 1024:.0f} MiB after warm-up" if pid in warm_workers else "started during the soak"
        print(f"worker {pid} ({role}): {rss / 1024:.0f} MiB ({before}); {memory_kib(pid)}")
    # Each process against its own post-warm-up RSS if it lived through the soak, else against the
    # largest post-warm-up RSS of its role (a replacement has had less time to grow, never more room).
    role_warm = {}
    for role, rss in warm_workers.values():
        role_warm[role] = max(role_warm.get(role, 0), rss)
    compared = {args.server_pid: ("front end", warm_rss, final_rss)}
    for pid, (role, rss) in final_workers.items():
        compared[pid] = (role if pid in warm_workers else f"{role} (replacement)", warm_workers[pid][1] if pid in warm_workers else role_warm[role], rss)
    grew = {f"{role} {pid}": f"{before / 1024:.0f} -> {after / 1024:.0f} MiB ({100 * (after / before - 1):+.0f}%)"
            for pid, (role, before, after) in sorted(compared.items(), key=lambda item: item[1][0])}
    restarts = int(sum(values(final, "tessera:worker_restarts_total").values()) - restarts_before)
    outcomes = load.outcomes - warm_outcomes
    accepted = sum(v for k, v in outcomes.items() if k != "refused")
    bad = {k: v for k, v in outcomes.items() if k in ("empty", "truncated", "unclear-error", "hang", "refused")}
    injected = sum(faults.values())

    checks = [
        ("accepted requests answered or failed with a clear error",
         not bad, f"{accepted} accepted: {dict(sorted(outcomes.items()))}"),
        ("no leaked KV blocks (idle KV usage back to its post-warm-up level within 90 s)",
         kv_settled(final_kv, warm_kv), f"after warm-up {warm_kv}; after the soak {final_kv}, {settled_after:.0f} s after going idle"),
        ("front-end RSS within 20% of post-warm-up",
         final_rss <= 1.2 * warm_rss, f"{warm_rss / 1024:.0f} MiB -> {final_rss / 1024:.0f} MiB ({100 * (final_rss / warm_rss - 1):+.0f}%)"),
        ("every process within 20% of its post-warm-up RSS (a replacement: of its role's)",
         all(after <= 1.2 * before for _, before, after in compared.values()), "; ".join(f"{k}: {v}" for k, v in grew.items())),
        ("front end + workers RSS within 20% of post-warm-up",
         final_total <= 1.2 * warm_total, f"{warm_total / 1024:.0f} MiB -> {final_total / 1024:.0f} MiB ({100 * (final_total / warm_total - 1):+.0f}%)"),
        ("no restart storm (restarts <= faults; /health 200 within 60 s of the last fault)",
         restarts <= injected and healthy_after is not None,
         f"{restarts} restarts for {injected} faults {dict(sorted(faults.items()))}; healthy {healthy_after:.1f} s after the last fault" if healthy_after is not None
         else f"{restarts} restarts for {injected} faults; /health not 200 within 60 s"),
    ]
    print(f"\n{bursts} overload bursts of {3 * args.capacity} requests\n")
    print("| check | result | measured |\n|---|---|---|")
    for name, ok, measured in checks:
        print(f"| {name} | {'pass' if ok else 'FAIL'} | {measured} |")
    for kind, detail in load.failures[:20]:
        print(f"failure ({kind}): {detail}")
    sys.exit(0 if all(ok for _, ok, _ in checks) else 1)


if __name__ == "__main__":
    main()
