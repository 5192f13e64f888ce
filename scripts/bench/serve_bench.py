#!/usr/bin/env python3
"""Serving benchmarks of `tessera serve`, driven by `tessera bench serve`; each experiment runs
both sides of its comparison in one run of this script, alternating, and prints medians as a
Markdown table (raw results land in --out).

    python3 scripts/bench/serve_bench.py repeat-image      # (a) TTFT of a repeated image vs its first time
    python3 scripts/bench/serve_bench.py mixed-itl         # (b) text ITL with and without concurrent image requests
    python3 scripts/bench/serve_bench.py vs-hf             # (c) the mixed workload: Tessera vs transformers on CPU
    python3 scripts/bench/serve_bench.py vs-llama-server   # (c') Tessera vs llama.cpp's llama-server, rising rates
    python3 scripts/bench/serve_bench.py step-target       # (c'') TTFT and ITL with and without the step time target
    python3 scripts/bench/serve_bench.py overload          # (d) 3x capacity: 503s, every accepted request finishes, RSS
    python3 scripts/bench/serve_bench.py constrained       # (e) ITL of JSON-schema-constrained text requests vs unconstrained
    python3 scripts/bench/serve_bench.py irp               # (f) EPD intra-request parallel encoding: TTFT with 1 vs 2 encode workers
    python3 scripts/bench/serve_bench.py pipeline          # (g) HELR layer split: throughput of 2 and 3 pipeline stages vs one worker

Without --tessera the script builds `tessera` in release mode first. Servers listen on free local
ports and are stopped at the end of each run. See docs/benchmarks.md for the settings and results.
"""
import argparse
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_VLM = os.path.join(ROOT, "Sources/tessera/Resources/DefaultModel")
BENCH_LLAMA = os.path.join(ROOT, "bench-work/llama125m")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def load_average():
    return "%.1f/%.1f/%.1f" % os.getloadavg()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


class Server:
    """A server process started from a command, ready once `ready` (a URL path) answers 200.

    Its output goes to a log file; `rss_samples` holds (seconds, VmRSS KiB) while sampling runs."""

    def __init__(self, command, port, log_path, ready="/health"):
        self.command, self.port, self.log_path, self.ready = command, port, log_path, ready
        self.base_url = f"http://127.0.0.1:{port}"
        self.rss_samples = []
        self._sampling = None

    def __enter__(self):
        self.log_file = open(self.log_path, "w")
        self.process = subprocess.Popen(self.command, stdout=self.log_file, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[0]} exited with {self.process.returncode}; see {self.log_path}")
            try:
                get(self.base_url + self.ready, timeout=2)
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"{self.command[0]} did not become ready; see {self.log_path}")

    def __exit__(self, *exc):
        self.stop_sampling()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.close()

    def rss_kib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def start_sampling(self, interval=0.1):
        self._stop = threading.Event()
        start = time.time()

        def sample():
            while not self._stop.is_set():
                self.rss_samples.append((time.time() - start, self.rss_kib()))
                self._stop.wait(interval)

        self._sampling = threading.Thread(target=sample, daemon=True)
        self._sampling.start()

    def stop_sampling(self):
        if self._sampling is not None:
            self._stop.set()
            self._sampling.join()
            self._sampling = None

    def model_name(self):
        return json.loads(get(self.base_url + "/v1/models"))["data"][0]["id"]

    def metrics(self):
        """Prometheus counters and histogram sums summed over labels: {name: value}."""
        totals = {}
        for line in get(self.base_url + "/metrics").splitlines():
            match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
            if match:
                totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(match.group(3))
        return totals


def tessera_server(args, model, out, name, extra=()):
    port = free_port()
    command = [args.tessera, "serve", "--model", model, "--port", str(port), "--threads", str(args.threads),
               *args.server_arg, *extra]
    return Server(command, port, os.path.join(out, f"{name}.log"))


def hf_server(args, model, out, name):
    port = free_port()
    command = [sys.executable, os.path.join(ROOT, "scripts/bench/hf_baseline_server.py"), "--model", model,
               "--port", str(port), "--threads", str(args.threads)]
    return Server(command, port, os.path.join(out, f"{name}.log"))


def llama_server(args, gguf, out, name, slots, context, mmproj=None):
    port = free_port()
    command = [os.path.join(args.llama_cpp, "llama-server"), "-m", gguf, "--port", str(port), "-t", str(args.threads),
               "-np", str(slots), "-c", str(context * slots), "--no-webui", *(["--mmproj", mmproj] if mmproj else [])]
    return Server(command, port, os.path.join(out, f"{name}.log"))


def bench_command(args, server, model_name, result, options):
    return [args.tessera, "bench", "serve", "--base-url", server.base_url, "--model", model_name,
            "--result-json", result, *options]


def run_bench(args, server, model_name, result, options):
    """One `tessera bench serve` run; its JSON result."""
    with open(result + ".log", "w") as output:
        subprocess.run(bench_command(args, server, model_name, result, options), check=True, cwd=ROOT,
                       stdout=output, stderr=subprocess.STDOUT)
    with open(result) as f:
        return json.load(f)


def run_benches(args, server, model_name, runs, lead=1.0):
    """Several `tessera bench serve` processes at once, each started `lead` seconds after the one
    before it: [(result path, options)] -> their JSON results."""
    processes = []
    try:
        for i, (result, options) in enumerate(runs):
            if i:
                time.sleep(lead)
            with open(result + ".log", "w") as output:
                processes.append(subprocess.Popen(bench_command(args, server, model_name, result, options), cwd=ROOT,
                                                  stdout=output, stderr=subprocess.STDOUT))
        for process, (result, _) in zip(processes, runs):
            if process.wait() != 0:
                raise RuntimeError(f"bench serve exited with {process.returncode}; see {result}.log")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    results = []
    for result, _ in runs:
        with open(result) as f:
            results.append(json.load(f))
    return results


def median(values):
    return statistics.median(values) if values else float("nan")


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(x):
    return f"{x:.1f}"


def text_stream(args, model, seed, rate, count):
    """Text-only requests to /v1/completions at a fixed Poisson rate."""
    return ["--endpoint", "completions", "--dataset", "random", "--tokenizer", model, "--input-len", str(args.text_input),
            "--output-len", str(args.text_output), "--request-rate", str(rate), "--num-prompts", str(count),
            "--seed", str(seed)]


def image_stream(args, model, seed, rate, count):
    """Chat requests with one random image each (new ones unless --image-reuse), at a fixed Poisson rate."""
    return ["--endpoint", "chat", "--dataset", "random-mm", "--tokenizer", model, "--input-len", str(args.image_input),
            "--output-len", str(args.image_output), "--image-size", args.image_size, "--images-per-request", "1",
            "--image-reuse", str(args.image_reuse),
            "--request-rate", str(rate), "--num-prompts", str(count), "--seed", str(seed)]


def overlapping_image_count(args, text_rate=None):
    """Enough image requests to outlast the text stream (it starts a second after them)."""
    return math.ceil(args.image_rate * (args.text_prompts / (text_rate or args.text_rate) + 4))


# (a) -------------------------------------------------------------------------------------------

def repeat_image(args, out):
    rows, per_run = [], []
    options = ["--endpoint", "chat", "--dataset", "random-mm", "--tokenizer", args.model, "--input-len",
               str(args.image_input), "--output-len", str(args.image_output), "--image-size", args.image_size,
               "--num-prompts", str(args.prompts), "--max-concurrency", "1"]
    counters = ["tessera:encoder_cache_queries_total", "tessera:encoder_cache_hits_total",
                "tessera:prefix_cache_queries_total", "tessera:prefix_cache_hits_total",
                "tessera:image_decode_seconds_sum", "tessera:image_preprocess_seconds_sum",
                "tessera:image_encode_seconds_sum", "tessera:image_encode_seconds_count",
                "tessera:time_to_first_token_seconds_sum", "tessera:time_to_first_token_seconds_count"]
    for r in range(args.repeats):
        log(f"repeat-image run {r + 1}/{args.repeats}, load {load_average()}")
        with tessera_server(args, args.model, out, f"repeat-image-{r}") as server:
            name = server.model_name()
            seeded = options + ["--seed", str(1000 + r)]
            before = server.metrics()
            first = run_bench(args, server, name, os.path.join(out, f"repeat-image-{r}-first.json"), seeded)
            middle = server.metrics()
            again = run_bench(args, server, name, os.path.join(out, f"repeat-image-{r}-repeat.json"), seeded)
            after = server.metrics()
        delta1 = {k: middle.get(k, 0) - before.get(k, 0) for k in counters}
        delta2 = {k: after.get(k, 0) - middle.get(k, 0) for k in counters}
        per_run.append((first, again, delta1, delta2))
        log(f"  first TTFT mean {first['ttft_ms']['mean']:.1f} ms, repeat {again['ttft_ms']['mean']:.1f} ms")

    def med(i, key, stat):
        return median([run[i][key][stat] for run in per_run])

    def counter(i, key):
        return median([run[i][key] for run in per_run])

    first_mean, repeat_mean = med(0, "ttft_ms", "mean"), med(1, "ttft_ms", "mean")
    first_p50, repeat_p50 = med(0, "ttft_ms", "median"), med(1, "ttft_ms", "median")
    def server_ttft(i):
        """Mean TTFT the server measured, from arrival of the request to its first token (ms)."""
        return median([1000 * run[i]["tessera:time_to_first_token_seconds_sum"]
                       / max(run[i]["tessera:time_to_first_token_seconds_count"], 1) for run in per_run])

    rows = [
        ["first time", ms(first_mean), ms(first_p50), ms(med(0, "ttft_ms", "p99")), ms(server_ttft(2)),
         ms(med(0, "e2el_ms", "mean"))],
        ["repeat", ms(repeat_mean), ms(repeat_p50), ms(med(1, "ttft_ms", "p99")), ms(server_ttft(3)),
         ms(med(1, "e2el_ms", "mean"))],
        ["repeat / first", f"{repeat_mean / first_mean:.0%}", f"{repeat_p50 / first_p50:.0%}", "",
         f"{server_ttft(3) / server_ttft(2):.0%}", ""],
    ]
    print(table(["pass", "TTFT mean (ms)", "TTFT p50 (ms)", "TTFT p99 (ms)", "server TTFT mean (ms)",
                 "E2E mean (ms)"], rows))
    print()
    cache_rows = []
    for i, label in ((2, "first time"), (3, "repeat")):
        images = counter(i, "tessera:encoder_cache_queries_total")
        encoded = counter(i, "tessera:image_encode_seconds_count") or 1
        cache_rows.append([
            label,
            f"{counter(i, 'tessera:encoder_cache_hits_total'):.0f} / {images:.0f}",
            f"{counter(i, 'tessera:prefix_cache_hits_total'):.0f} / {counter(i, 'tessera:prefix_cache_queries_total'):.0f}",
            ms(1000 * counter(i, "tessera:image_decode_seconds_sum") / max(images, 1)),
            ms(1000 * counter(i, "tessera:image_preprocess_seconds_sum") / encoded),
            ms(1000 * counter(i, "tessera:image_encode_seconds_sum") / encoded),
        ])
    print(table(["pass", "encoder-cache hits / images", "prefix-cache hit / queried tokens",
                 "decode ms/image", "preprocess ms/image", "encode ms/image"], cache_rows))


# (b) -------------------------------------------------------------------------------------------

def mixed_itl(args, out):
    alone, mixed, images = [], [], []
    for r in range(args.repeats):
        seed = 2000 + r
        for with_images in ((False, True) if r % 2 == 0 else (True, False)):
            tag = f"mixed-itl-{r}-{'mixed' if with_images else 'alone'}"
            log(f"{tag}, load {load_average()}")
            with tessera_server(args, args.model, out, tag) as server:
                name = server.model_name()
                text = (os.path.join(out, f"{tag}-text.json"), text_stream(args, args.model, seed, args.text_rate, args.text_prompts))
                if with_images:
                    image = (os.path.join(out, f"{tag}-image.json"),
                             image_stream(args, args.model, seed + 500, args.image_rate, overlapping_image_count(args)))
                    image_result, text_result = run_benches(args, server, name, [image, text])
                    mixed.append(text_result)
                    images.append(image_result)
                else:
                    alone.append(run_bench(args, server, name, *text))

    def med(results, key, stat):
        return median([r[key][stat] for r in results])

    rows = []
    for label, results in (("text alone", alone), ("text + image stream", mixed)):
        rows.append([label, ms(med(results, "itl_ms", "median")), ms(med(results, "itl_ms", "p99")),
                     ms(med(results, "ttft_ms", "median")), ms(med(results, "ttft_ms", "p99")),
                     f"{median([r['completed'] for r in results]):.0f}"])
    rows.append(["ratio", f"{med(mixed, 'itl_ms', 'median') / med(alone, 'itl_ms', 'median'):.2f}x",
                 f"{med(mixed, 'itl_ms', 'p99') / med(alone, 'itl_ms', 'p99'):.2f}x",
                 f"{med(mixed, 'ttft_ms', 'median') / med(alone, 'ttft_ms', 'median'):.2f}x",
                 f"{med(mixed, 'ttft_ms', 'p99') / med(alone, 'ttft_ms', 'p99'):.2f}x", ""])
    print(table(["text requests", "ITL p50 (ms)", "ITL p99 (ms)", "TTFT p50 (ms)", "TTFT p99 (ms)", "completed"], rows))
    print()
    print(f"Image stream during the mixed runs (medians): {median([r['completed'] for r in images]):.0f} requests "
          f"completed, TTFT p50 {ms(med(images, 'ttft_ms', 'median'))} ms, p99 {ms(med(images, 'ttft_ms', 'p99'))} ms.")


# (e) -------------------------------------------------------------------------------------------

# Nested objects, arrays, enums, numbers and bounded strings; at least eight items, so every
# constrained request runs to --text-output tokens like the unconstrained ones. `tessera bench engine
# --json-schema` reads the same file.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "constrained_schema.json")) as f:
    BENCH_SCHEMA = json.load(f)


def constrained(args, out):
    """The same text stream with and without a JSON schema, on one server per repeat, alternating order."""
    extra = json.dumps({"response_format": {"type": "json_schema", "json_schema": {"name": "bench", "schema": BENCH_SCHEMA}}})
    results = {False: [], True: []}
    for r in range(args.repeats):
        tag = f"constrained-{r}"
        log(f"{tag}, load {load_average()}")
        with tessera_server(args, args.model, out, tag) as server:
            name = server.model_name()
            for with_schema in ((False, True) if r % 2 == 0 else (True, False)):
                kind = "schema" if with_schema else "free"
                schema_options = ["--extra-body", extra] if with_schema else []
                # A warm-up pass with other prompts first: the schema's grammar positions (and their
                # masks) are numbered as requests first reach them and kept for later requests.
                run_bench(args, server, name, os.path.join(out, f"{tag}-{kind}-warmup.json"),
                          text_stream(args, args.model, 9000 + r, args.text_rate, args.text_prompts // 2) + schema_options)
                options = text_stream(args, args.model, 3000 + r, args.text_rate, args.text_prompts) + schema_options
                results[with_schema].append(run_bench(args, server, name, os.path.join(out, f"{tag}-{kind}.json"), options))

    def med(with_schema, key, stat=None):
        return median([x[key][stat] if stat else x[key] for x in results[with_schema]])

    rows = []
    for label, with_schema in (("unconstrained", False), ("json_schema", True)):
        rows.append([label, ms(med(with_schema, "itl_ms", "median")), ms(med(with_schema, "itl_ms", "mean")),
                     ms(med(with_schema, "itl_ms", "p99")), ms(med(with_schema, "tpot_ms", "mean")),
                     ms(med(with_schema, "ttft_ms", "median")), f"{med(with_schema, 'output_throughput'):.1f}",
                     f"{med(with_schema, 'completed'):.0f}"])
    rows.append(["ratio"] + [f"{med(True, k, st) / med(False, k, st):.2f}x" for k, st in (
        ("itl_ms", "median"), ("itl_ms", "mean"), ("itl_ms", "p99"), ("tpot_ms", "mean"), ("ttft_ms", "median"))]
        + [f"{med(True, 'output_throughput') / med(False, 'output_throughput'):.2f}x", ""])
    print(table(["text requests", "ITL p50 (ms)", "ITL mean (ms)", "ITL p99 (ms)", "TPOT mean (ms)", "TTFT p50 (ms)",
                 "output tok/s", "completed"], rows))
    print()
    print("Per repeat, TPOT mean json_schema / unconstrained: " + ", ".join(
        f"{s['tpot_ms']['mean'] / f['tpot_ms']['mean']:.2f}x" for f, s in zip(results[False], results[True])))


# (c) -------------------------------------------------------------------------------------------

SIDE_BY_SIDE_HEADER = ["server", "stream", "completed", "goodput (req/s)", "req/s", "output tok/s", "TTFT p50 (ms)",
                       "TTFT p99 (ms)", "ITL p50 (ms)", "ITL p99 (ms)"]


def side_by_side(args, out, servers, streams, title):
    """Runs `streams(seed)` -> [(label, options)] at once against each server, alternating servers per
    repeat; returns table rows (SIDE_BY_SIDE_HEADER) of per-stream medians per server."""
    results = {label: {} for label, _ in servers}
    for r in range(args.repeats):
        order = servers if r % 2 == 0 else servers[::-1]
        for label, make in order:
            tag = f"{title}-{r}-{label}"
            log(f"{tag}, load {load_average()}")
            with make(tag) as server:
                name = server.model_name()
                runs = [(os.path.join(out, f"{tag}-{stream}.json"), options) for stream, options in streams(3000 + r)]
                for (stream, _), result in zip(streams(0), run_benches(args, server, name, runs)):
                    results[label].setdefault(stream, []).append(result)
    rows = []
    for label, _ in servers:
        for stream, runs in results[label].items():
            def med(key, stat=None):
                return median([(run[key][stat] if stat else run[key]) or 0 for run in runs])
            rows.append([label, stream, f"{med('completed'):.0f}", f"{med('request_goodput'):.2f}",
                         f"{med('request_throughput'):.2f}", f"{med('output_throughput'):.1f}",
                         ms(med("ttft_ms", "median")), ms(med("ttft_ms", "p99")),
                         ms(med("itl_ms", "median")), ms(med("itl_ms", "p99"))])
    return rows


def vs_hf(args, out):
    slo = ["--goodput", args.goodput]

    def streams(seed):
        return [("image", image_stream(args, args.model, seed + 500, args.image_rate, overlapping_image_count(args)) + slo),
                ("text", text_stream(args, args.model, seed, args.text_rate, args.text_prompts) + slo)]

    print(table(SIDE_BY_SIDE_HEADER, side_by_side(args, out, [
        ("tessera", lambda tag: tessera_server(args, args.model, out, tag)),
        ("transformers", lambda tag: hf_server(args, args.model, out, tag))], streams, "vs-hf")))
    print()
    print(f"Goodput SLO: {args.goodput} (ms).")


def vs_llama_server(args, out):
    """At each of --text-rates: Tessera and llama-server on the same weights. Text only on one GGUF
    file served by both (--gguf), or on the 125M bench model (Tessera on its F16 folder, llama-server
    on its F16 GGUF); with --mmproj, the mixed text + image workload of vs-hf, Tessera on the
    vision-language folder (--model) and llama-server on its GGUF conversion (--gguf + --mmproj), at
    the image rates of --image-rates paired with the text rates. With --arrival-seconds every stream
    sends rate x seconds requests, so each rate offers load for the same time."""
    if args.gguf:
        gguf = os.path.abspath(args.gguf)
        model = args.model if args.mmproj else gguf
    else:
        model = args.text_model
        gguf = os.path.join(model, "model-f16.gguf")
        if not os.path.exists(gguf):
            subprocess.run([sys.executable, os.path.join(ROOT, "scripts/bench/make_bench_model.py"), "--out", model], check=True)
    mmproj = args.mmproj and os.path.abspath(args.mmproj)
    context = max(args.text_input + args.text_output, args.image_input + args.image_output + 256 if mmproj else 0) + 64
    slo = ["--goodput", args.goodput]
    text_rates = [float(r) for r in (args.text_rates or str(args.text_rate)).split(",")]
    image_rates = [float(r) for r in args.image_rates.split(",")] if args.image_rates else [args.image_rate] * len(text_rates)
    if mmproj and len(image_rates) != len(text_rates):
        sys.exit("--image-rates needs as many rates as --text-rates")

    def count(rate, default):
        return math.ceil(rate * args.arrival_seconds) if args.arrival_seconds else default

    rows, summary = [], []
    for rate, image_rate in zip(text_rates, image_rates):
        def streams(seed):
            text = [("text", text_stream(args, model, seed, rate, count(rate, args.text_prompts)) + slo)]
            if not mmproj:
                return text
            images = count(image_rate, math.ceil(image_rate * (args.text_prompts / rate + 4)))
            return [("image", image_stream(args, model, seed + 500, image_rate, images) + slo)] + text

        level = f"{image_rate:g} + {rate:g}" if mmproj else f"{rate:g}"
        load = load_average()
        level_rows = side_by_side(args, out, [
            ("tessera", lambda tag: tessera_server(args, model, out, tag)),
            ("llama-server", lambda tag: llama_server(args, gguf, out, tag, args.slots, context, mmproj)),
        ], streams, f"vs-llama-server-{level.replace(' + ', '+')}")
        rows += [[level, load] + row for row in level_rows]
        goodput = {server: sum(float(row[3]) for row in level_rows if row[0] == server) for server in ("tessera", "llama-server")}
        ratio = (f"{goodput['tessera'] / goodput['llama-server']:.2f}" if goodput["llama-server"]
                 else "inf" if goodput["tessera"] else "n/a")
        summary.append([level, f"{goodput['tessera']:.2f}", f"{goodput['llama-server']:.2f}", ratio])
    rate_header = "image + text rate (req/s)" if mmproj else "rate (req/s)"
    print(table([rate_header, "load at start"] + SIDE_BY_SIDE_HEADER, rows))
    print()
    print(table([rate_header, "tessera goodput (req/s)", "llama-server goodput (req/s)", "ratio"], summary))
    print()
    print(f"Goodput SLO: {args.goodput} (ms); llama-server with {args.slots} slots of {context} tokens; "
          f"{args.threads} thread(s) each.")


def step_target(args, out):
    """Tessera alone on one text stream (a GGUF file with --gguf, else the 125M bench model), with the
    step time target off (prompt tokens per decoding step capped by count only) and at
    --step-targets milliseconds: what the step composition does to TTFT and ITL under a burst."""
    model = os.path.abspath(args.gguf) if args.gguf else args.text_model
    slo = ["--goodput", args.goodput]

    def streams(seed):
        return [("text", text_stream(args, model, seed, args.text_rate, args.text_prompts) + ["--burstiness", str(args.burstiness)] + slo)]

    def server(target):
        return lambda tag: tessera_server(args, model, out, tag, ["--step-time-target-ms", target])

    servers = [(f"target {t} ms" if float(t) else "no target", server(t)) for t in args.step_targets.split(",")]
    print(table(SIDE_BY_SIDE_HEADER, side_by_side(args, out, servers, streams, "step-target")))
    print()
    print(f"{args.text_prompts} requests at {args.text_rate:g} req/s (burstiness {args.burstiness:g}); "
          f"goodput SLO {args.goodput} (ms); {args.threads} thread(s).")


# (d) -------------------------------------------------------------------------------------------

def overload(args, out):
    caps = ["--max-queued-requests", str(args.max_queued_requests)]
    rows = []
    for r in range(args.repeats):
        tag = f"overload-{r}"
        log(f"{tag}, load {load_average()}")
        with tessera_server(args, args.model, out, tag, caps) as server:
            name = server.model_name()
            # Capacity: the request rate a closed loop of many clients sustains on this workload.
            probe = run_bench(args, server, name, os.path.join(out, f"{tag}-capacity.json"),
                              image_stream(args, args.model, 4000 + r, "inf", args.capacity_prompts)
                              + ["--max-concurrency", str(args.capacity_concurrency)])
            capacity = probe["request_throughput"]
            offered = 3 * capacity
            count = math.ceil(offered * args.duration)
            idle_rss = server.rss_kib()
            before = server.metrics()
            server.start_sampling()
            result = run_bench(args, server, name, os.path.join(out, f"{tag}-3x.json"),
                               image_stream(args, args.model, 5000 + r, f"{offered:.3f}", count))
            server.stop_sampling()
            time.sleep(1)
            after = server.metrics()
            end_rss = server.rss_kib()
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        finished = delta.get("tessera:request_success_total", 0)
        rejected = delta.get("tessera:request_rejected_total", 0)
        aborted = delta.get("tessera:request_aborted_total", 0)
        others = [e for e in result["errors"] if not e.startswith("HTTP 503")]
        samples = [kib for _, kib in server.rss_samples]
        quarter = [samples[min(len(samples) - 1, int(q * len(samples)))] for q in (0.25, 0.5, 0.75)] + [samples[-1]]
        rows.append([r + 1, f"{capacity:.2f}", f"{offered:.2f}", count, result["completed"], f"{finished:.0f}",
                     result["failed"], f"{rejected:.0f}", f"{aborted:.0f}", "; ".join(others) or "none",
                     f"{idle_rss / 1024:.0f}", f"{max(samples) / 1024:.0f}",
                     " / ".join(f"{kib / 1024:.0f}" for kib in quarter), f"{end_rss / 1024:.0f}",
                     ms(result["ttft_ms"]["median"]), ms(result["ttft_ms"]["p99"])])
        with open(os.path.join(out, f"{tag}-rss.json"), "w") as f:
            json.dump(server.rss_samples, f)
    print(table(["run", "capacity (req/s)", "offered (req/s)", "sent", "completed", "server finished", "failed",
                 "server 503s", "aborted", "non-503 errors", "RSS before (MiB)", "RSS max (MiB)",
                 "RSS at 25/50/75/100% (MiB)", "RSS after (MiB)", "TTFT p50 of accepted (ms)",
                 "TTFT p99 (ms)"], rows))


# (f) -------------------------------------------------------------------------------------------

def irp(args, out):
    """TTFT of requests with --irp-images images each, one request at a time, through encode /
    prefill / decode worker processes whose encode stage has 1 or 2 workers; the intra-request
    dispatcher deals each request's images across them. Alternates the two per repeat."""
    per = {1: [], 2: []}
    options = ["--endpoint", "chat", "--dataset", "random-mm", "--tokenizer", args.model, "--input-len",
               str(args.image_input), "--output-len", "4", "--image-size", args.image_size,
               "--images-per-request", str(args.irp_images), "--num-prompts", str(args.prompts), "--max-concurrency", "1"]
    for r in range(args.repeats):
        for encoders in (1, 2):
            topology = os.path.join(out, f"irp-{encoders}.yaml")
            with open(topology, "w") as f:
                f.write("encodeDispatcher: intra-request\ngroups:\n  - group: multimodal\n    workers:\n"
                        f"      - {{role: encode, count: {encoders}, arguments: [--threads, \"1\"]}}\n"
                        "      - {role: prefill, count: 1, arguments: [--threads, \"1\"]}\n"
                        "      - {role: decode, count: 1, arguments: [--threads, \"1\"]}\n")
            log(f"irp run {r + 1}/{args.repeats}, {encoders} encode worker(s), load {load_average()}")
            with tessera_server(args, args.model, out, f"irp-{encoders}-{r}", ["--topology", topology]) as server:
                result = run_bench(args, server, server.model_name(), os.path.join(out, f"irp-{encoders}-{r}.json"),
                                   options + ["--seed", str(2000 + r)])
            per[encoders].append(result)
            log(f"  TTFT mean {result['ttft_ms']['mean']:.1f} ms, p50 {result['ttft_ms']['median']:.1f} ms")

    def med(encoders, stat):
        return median([run["ttft_ms"][stat] for run in per[encoders]])

    rows = [[f"{e} encode worker{'s' if e > 1 else ''}", ms(med(e, "mean")), ms(med(e, "median")), ms(med(e, "p99"))]
            for e in (1, 2)]
    rows.append(["2 / 1", f"{med(2, 'mean') / med(1, 'mean'):.0%}", f"{med(2, 'median') / med(1, 'median'):.0%}", ""])
    print(table(["encode stage", "TTFT mean (ms)", "TTFT p50 (ms)", "TTFT p99 (ms)"], rows))


def pipeline(args, out):
    """Text throughput of one mono worker whose model is whole, or split by layers over 2 or 3
    processes (`pipeline:` stages whose memory budgets admit only that split; HELR's
    LayerPlacement picks it). Same requests for each, alternating per repeat."""
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    c = config.get("text_config", config)
    heads = c["num_attention_heads"]
    head_dim = c.get("head_dim", c["hidden_size"] // heads)
    h, i, vocab = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    q, kv = heads * head_dim, c.get("num_key_value_heads", heads) * head_dim
    # PipelineSplit.units(of:): float32 embedding, layers and LM head.
    layer = (h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h) * 4
    total_mib = (vocab * h * 4 + c["num_hidden_layers"] * layer + (vocab * h + h) * 4) / 1048576
    shares = {1: None, 2: 0.55, 3: 0.45}
    per = {n: [] for n in shares}
    options = ["--endpoint", "completions", "--dataset", "random", "--tokenizer", args.model, "--input-len",
               str(args.text_input), "--output-len", str(args.text_output), "--num-prompts", str(args.text_prompts),
               "--max-concurrency", str(args.pipeline_concurrency)]
    worker = '[--threads, "%d"]' % args.threads
    for r in range(args.repeats):
        for n, share in shares.items():
            topology = os.path.join(out, f"pipeline-{n}.yaml")
            with open(topology, "w") as f:
                f.write(f"groups:\n  - group: multimodal\n    workers:\n      - role: mono\n        count: 1\n        arguments: {worker}\n")
                if share:
                    stage = f"{{memory_mib: {total_mib * share:.4f}, arguments: {worker}}}"
                    f.write(f"        pipeline: [{', '.join([stage] * n)}]\n")
            log(f"pipeline run {r + 1}/{args.repeats}, {n} stage(s), load {load_average()}")
            with tessera_server(args, args.model, out, f"pipeline-{n}-{r}", ["--topology", topology]) as server:
                result = run_bench(args, server, server.model_name(), os.path.join(out, f"pipeline-{n}-{r}.json"),
                                   options + ["--seed", str(3000 + r)])
            per[n].append(result)
            log(f"  {result['output_throughput']:.1f} output tok/s, TTFT p50 {result['ttft_ms']['median']:.1f} ms, "
                f"TPOT p50 {result['tpot_ms']['median']:.1f} ms, failed {result['failed']}")

    def med(n, key, stat=None):
        return median([run[key][stat] if stat else run[key] for run in per[n]])

    rows = [[f"{n} stage{'s' if n > 1 else ''}" + (" (whole model)" if n == 1 else ""), f"{med(n, 'output_throughput'):.1f}",
             f"{med(n, 'output_throughput') / med(1, 'output_throughput'):.0%}", ms(med(n, "ttft_ms", "median")),
             ms(med(n, "tpot_ms", "median")), int(sum(run["failed"] for run in per[n]))] for n in shares]
    print(table(["worker", "output tok/s", "vs one worker", "TTFT p50 (ms)", "TPOT p50 (ms)", "failed"], rows))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", choices=["repeat-image", "mixed-itl", "vs-hf", "vs-llama-server", "step-target", "overload",
                                           "constrained", "irp", "pipeline"])
    ap.add_argument("--tessera", help="a built tessera executable (default: build it in release mode)")
    ap.add_argument("--model", default=DEFAULT_VLM, help="the vision-language model folder (default: the embedded model)")
    ap.add_argument("--text-model", default=BENCH_LLAMA, help="vs-llama-server: the HF folder with model-f16.gguf")
    ap.add_argument("--llama-cpp", default=os.environ.get("LLAMA_CPP", "/tmp/llama.cpp/build/bin"),
                    help="the folder holding llama-server")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--server-arg", action="append", default=[],
                    help="an extra `tessera serve` argument (repeatable, e.g. --server-arg=--max-num-batched-tokens=256)")
    ap.add_argument("--out", help="where results and server logs go (default: a new temporary folder)")
    ap.add_argument("--prompts", type=int, default=16, help="repeat-image: distinct images per pass")
    ap.add_argument("--image-size", default="448x448")
    ap.add_argument("--image-input", type=int, default=64, help="text tokens of image requests")
    ap.add_argument("--image-output", type=int, default=32)
    ap.add_argument("--irp-images", type=int, default=4, help="irp: images per request")
    ap.add_argument("--pipeline-concurrency", type=int, default=4, help="pipeline: requests in flight")
    ap.add_argument("--image-rate", type=float, default=2.0)
    ap.add_argument("--image-reuse", type=float, default=0.0, help="image streams: probability an image repeats")
    ap.add_argument("--text-input", type=int, default=128)
    ap.add_argument("--text-output", type=int, default=64)
    ap.add_argument("--text-rate", type=float, default=4.0)
    ap.add_argument("--text-rates", help="vs-llama-server: comma-separated Poisson rates, one side-by-side run each")
    ap.add_argument("--image-rates", help="vs-llama-server --mmproj: image rates paired with --text-rates")
    ap.add_argument("--arrival-seconds", type=float,
                    help="vs-llama-server: each stream sends rate x this many requests (instead of --text-prompts)")
    ap.add_argument("--gguf", help="vs-llama-server: one GGUF file served by both (default: the 125M bench model)")
    ap.add_argument("--mmproj", help="vs-llama-server: llama.cpp's vision projector for --gguf (mixed text + image workload)")
    ap.add_argument("--text-prompts", type=int, default=80)
    ap.add_argument("--goodput", default="ttft:1000,tpot:100", help="SLOs for vs-hf and vs-llama-server")
    ap.add_argument("--step-targets", default="0,50", help="step-target: --step-time-target-ms values to compare (0: off)")
    ap.add_argument("--burstiness", type=float, default=1.0, help="step-target: gamma arrivals' shape (below 1 is burstier)")
    ap.add_argument("--slots", type=int, default=8, help="vs-llama-server: llama-server's parallel slots")
    ap.add_argument("--capacity-prompts", type=int, default=200, help="overload: requests of the capacity probe")
    ap.add_argument("--capacity-concurrency", type=int, default=64)
    ap.add_argument("--duration", type=float, default=30, help="overload: seconds of 3x-capacity arrivals")
    ap.add_argument("--max-queued-requests", type=int, default=64, help="overload: the server's queue cap")
    args = ap.parse_args()
    # Stopping the script (SIGTERM) unwinds like Ctrl-C, so that the servers it started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.tessera is None:
        subprocess.run(["swift", "build", "-c", "release", "--product", "tessera"], check=True, cwd=ROOT,
                       stdout=sys.stderr)
        bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], check=True, cwd=ROOT,
                                  capture_output=True, text=True).stdout.strip()
        args.tessera = os.path.join(bin_path, "tessera")
    args.tessera = os.path.abspath(args.tessera)
    out = args.out or tempfile.mkdtemp(prefix=f"serve-bench-{args.experiment}-")
    os.makedirs(out, exist_ok=True)
    log(f"results in {out}")
    started = load_average()
    {"repeat-image": repeat_image, "mixed-itl": mixed_itl, "vs-hf": vs_hf, "vs-llama-server": vs_llama_server,
     "step-target": step_target, "overload": overload, "constrained": constrained, "irp": irp, "pipeline": pipeline}[args.experiment](args, out)
    print()
    print(f"Load average (1/5/15 min) at start {started}, at end {load_average()}; {args.repeats} repeat(s), medians.")


if __name__ == "__main__":
    main()
