"""Vision encoding: Tessera vs PyTorch (transformers) on CPU, same weights, same threads, one run.

    python3 scripts/bench/encode_vs_torch.py [--threads 2] [--images 16] [--repeats 3]

The model is a random-weight CLIPVisionModel the size of CLIP ViT-B/16 (hidden 768, 12 layers,
12 heads, MLP 3072, 16 px patches, 224 px images: 197 tokens per image), written once to
bench-work/clip-vit-b16 in float32 with a CLIP image processor config. Both sides encode one
image per call from already-preprocessed pixels, after one warm-up image; the two are measured
alternately REPEATS times and the medians compared.

Tessera's binary: $TESSERA, else .build/release/tessera (built with `swift build -c release` if missing).
"""

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import torch
from transformers import CLIPVisionConfig, CLIPVisionModel

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "bench-work" / "clip-vit-b16"


def make_model() -> None:
    if (MODEL / "model.safetensors").exists():
        return
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                              image_size=224, patch_size=16, hidden_act="quick_gelu")
    CLIPVisionModel(config).eval().save_pretrained(MODEL)
    (MODEL / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224},
    }, indent=2) + "\n")


def torch_run(model, images: int) -> dict:
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randn(1, 3, 224, 224, generator=gen) for _ in range(images + 1)]
    with torch.inference_mode():
        model(pixel_values=inputs[0])
        times = []
        for pixels in inputs[1:]:
            start = time.perf_counter()
            tokens = model(pixel_values=pixels).last_hidden_state.shape[1]
            times.append(time.perf_counter() - start)
    total = sum(times)
    return {"images_per_s": images / total, "vision_tokens_per_s": images * tokens / total,
            "median_ms_per_image": statistics.median(times) * 1000}


def tessera_run(binary: str, images: int, threads: int) -> dict:
    out = subprocess.run([binary, "bench", "encode", "--model", str(MODEL), "--images", str(images), "--size", "224x224",
                          "--threads", str(threads), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    make_model()
    binary = os.environ.get("TESSERA", str(REPO / ".build" / "release" / "tessera"))
    if not Path(binary).exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "tessera"], cwd=REPO, check=True)
    torch.set_num_threads(args.threads)
    model = CLIPVisionModel.from_pretrained(MODEL, dtype=torch.float32).eval()
    print(f"torch {torch.__version__}, attention: {model.config._attn_implementation}, threads {args.threads}, "
          f"{args.images} images x {args.repeats} runs", flush=True)

    runs = {"tessera": [], "pytorch": []}
    for _ in range(args.repeats):
        runs["tessera"].append(tessera_run(binary, args.images, args.threads))
        runs["pytorch"].append(torch_run(model, args.images))
        print(json.dumps({name: results[-1] for name, results in runs.items()}), flush=True)

    keys = ("images_per_s", "vision_tokens_per_s", "median_ms_per_image")
    med = {name: {k: statistics.median(r[k] for r in results) for k in keys} for name, results in runs.items()}
    print("| encoder | images/s | vision tokens/s | ms/image (median) |")
    print("|---|---:|---:|---:|")
    for name in ("tessera", "pytorch"):
        m = med[name]
        print(f"| {name} | {m['images_per_s']:.2f} | {m['vision_tokens_per_s']:.0f} | {m['median_ms_per_image']:.1f} |")
    print(f"| ratio tessera/pytorch | {med['tessera']['images_per_s'] / med['pytorch']['images_per_s']:.2f}x | | |")


if __name__ == "__main__":
    main()
