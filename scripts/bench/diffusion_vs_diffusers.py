"""Diffusion UNet step and VAE decode: Tessera vs diffusers (torch CPU, float32) and stable-diffusion.cpp, same weights, one run.

    python3 scripts/bench/diffusion_vs_diffusers.py [--threads 2] [--sizes 256 512] [--runs 2] [--repeats 2]
        [--sdcpp-python PYTHON] [--sdcpp-steps 2] [--e2e-steps 4]

Writes (once) a random-weight SD 1.5-shaped pipeline to bench-work/sd15-random (UNet 859.5M parameters:
block_out_channels 320/640/1280/1280, 8 heads, cross_attention_dim 768; VAE 128/256/512/512; float32,
~3.4 GB, never committed). Per size, both sides run one UNet call on a batch of 2 rows (one
classifier-free-guidance step; random latents at size/8, timesteps 999 and 749, random 77×768 encoder
states) and one VAE decode, after one warm-up call each; medians of RUNS calls, the two engines
alternating REPEATS times. Prints the load average with the table.

With --sdcpp-python (a Python with `stable-diffusion-cpp-python` installed, e.g. a venv made by
`pip install stable-diffusion-cpp-python`, which builds stable-diffusion.cpp from source), the folder is
completed into a whole pipeline (diffusion_hand_check.py) and stable-diffusion.cpp generates one image
per repeat with Euler, CFG 7.5 and --sdcpp-steps steps: its UNet step is its sampling time per step
(both CFG passes, no warm-up call: the first step's graph set-up is included), its VAE decode its
decode_first_stage time, both from its own log lines.

With --e2e-steps S, each engine also generates one whole image on the completed folder (prompt, Euler, CFG
7.5, S steps, seed 0) and its end-to-end time is reported: text encoding, S denoising steps and the VAE
decode, without loading (Tessera's `generate-image` prints it; diffusers' pipeline call; stable-diffusion.cpp's
`generate_image` call, whose S-step run then also gives its step and decode times).

Tessera's binary: $TESSERA, else .build/release/tessera (built with `swift build -c release` if missing).
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "bench-work" / "sd15-random"
# FLOP (2·MAC) per call from torch's flop counter (shared/design/diffusion.md): UNet batch 2, VAE decode batch 1.
GFLOP = {"unet": {256: 360, 512: 1607}, "vae": {256: 622, 512: 2515}}


def make_model() -> None:
    if (MODEL / "vae" / "diffusion_pytorch_model.safetensors").exists():
        return
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768,
        attention_head_dim=8, down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    )
    unet.save_pretrained(MODEL / "unet")
    del unet
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2, sample_size=512,
    )
    vae.save_pretrained(MODEL / "vae")


def diffusers_run(size: int, runs: int) -> dict:
    unet = UNet2DConditionModel.from_pretrained(MODEL / "unet", torch_dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(1)
    side = size // 8
    sample = torch.randn(2, 4, side, side, generator=gen)
    context = torch.randn(2, 77, 768, generator=gen)
    timesteps = torch.tensor([999.0, 749.0])

    def timed(call) -> list[float]:
        call()
        out = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            out.append(time.perf_counter() - start)
        return out

    with torch.inference_mode():
        step = timed(lambda: unet(sample, timesteps, context))
        del unet
        vae = AutoencoderKL.from_pretrained(MODEL / "vae", torch_dtype=torch.float32).eval()
        latents = torch.randn(1, 4, side, side, generator=gen)
        decode = timed(lambda: vae.decode(latents))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"unet_step_s": statistics.median(step), "vae_decode_s": statistics.median(decode), "peak_rss_mib": rss}


def diffusers_e2e(size: int, steps: int) -> float:
    from diffusion_hand_check import run_diffusers
    with tempfile.TemporaryDirectory() as work:
        return run_diffusers(size, steps, 0, Path(work) / "image.safetensors")


def tessera_e2e(binary: str, size: int, steps: int, threads: int) -> float:
    from diffusion_hand_check import PROMPT
    with tempfile.TemporaryDirectory() as work:
        log = subprocess.run([binary, "generate-image", "--model", str(MODEL), "--prompt", PROMPT, "--steps", str(steps),
                              "--guidance", "7.5", "--scheduler", "euler", "--width", str(size), "--height", str(size),
                              "--seed", "0", "--threads", str(threads), "--output", str(Path(work) / "image.png")],
                             check=True, capture_output=True, text=True).stderr
    return float(re.findall(r"generated in ([0-9.]+) s", log)[-1])


def tessera_run(binary: str, size: int, runs: int, threads: int) -> dict:
    out = subprocess.run([binary, "bench", "diffusion", "--model", str(MODEL), "--size", str(size), "--runs", str(runs),
                          "--threads", str(threads), "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def sdcpp_run(python: str, size: int, steps: int, threads: int) -> dict:
    from diffusion_hand_check import complete_folder
    complete_folder()
    out = subprocess.run([python, str(Path(__file__).with_name("sdcpp_generate.py")), str(MODEL), str(size), str(steps),
                          str(threads)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sdcpp-python", help="a Python with stable-diffusion-cpp-python installed")
    parser.add_argument("--sdcpp-steps", type=int, default=2)
    parser.add_argument("--e2e-steps", type=int, default=0, help="also time one whole S-step image per engine")
    args = parser.parse_args()

    make_model()
    if args.e2e_steps:
        from diffusion_hand_check import complete_folder
        complete_folder()
    binary = os.environ.get("TESSERA", str(REPO / ".build" / "release" / "tessera"))
    if not Path(binary).exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "tessera"], cwd=REPO, check=True)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {args.threads}, load average {os.getloadavg()}", flush=True)
    rows = []
    for size in args.sizes:
        results = {"tessera": [], "diffusers": []} | ({"stable-diffusion.cpp": []} if args.sdcpp_python else {})
        for _ in range(args.repeats):
            results["tessera"].append(tessera_run(binary, size, args.runs, args.threads))
            if args.e2e_steps:
                results["tessera"][-1]["end_to_end_s"] = tessera_e2e(binary, size, args.e2e_steps, args.threads)
            # diffusers in a child process, so each side's peak RSS is its own.
            child = subprocess.run(
                ["python3", __file__, "--child", str(size), str(args.runs), str(args.threads), str(args.e2e_steps)],
                check=True, capture_output=True, text=True,
            )
            results["diffusers"].append(json.loads(child.stdout.strip().splitlines()[-1]))
            if args.sdcpp_python:
                results["stable-diffusion.cpp"].append(
                    sdcpp_run(args.sdcpp_python, size, args.e2e_steps or args.sdcpp_steps, args.threads))
        for engine, runs in results.items():
            step = statistics.median(r["unet_step_s"] for r in runs)
            decode = statistics.median(r["vae_decode_s"] for r in runs)
            e2e = f"{statistics.median(r['end_to_end_s'] for r in runs):.2f}" if args.e2e_steps else "–"
            rows.append((size, engine, step, decode, e2e, max(r["peak_rss_mib"] for r in runs),
                         GFLOP["unet"].get(size, 0) / step, GFLOP["vae"].get(size, 0) / decode))
    print(f"load average after: {os.getloadavg()}")
    print(f"| size | engine | UNet step (CFG batch 2) s | VAE decode s | end to end ({args.e2e_steps} steps) s | peak RSS MiB "
          "| UNet GFLOP/s | VAE GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|")
    for size, engine, step, decode, e2e, rss, unet_rate, vae_rate in rows:
        print(f"| {size}² | {engine} | {step:.2f} | {decode:.2f} | {e2e} | {rss:.0f} | {unet_rate:.0f} | {vae_rate:.0f} |")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        torch.set_num_threads(int(sys.argv[4]))
        result = diffusers_run(int(sys.argv[2]), int(sys.argv[3]))
        if int(sys.argv[5]):
            result["end_to_end_s"] = diffusers_e2e(int(sys.argv[2]), int(sys.argv[5]))
        print(json.dumps(result))
    else:
        main()
