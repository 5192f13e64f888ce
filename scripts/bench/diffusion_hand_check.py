"""Full-size hand check: a random-weight SD 1.5-shaped pipeline folder, Tessera vs diffusers, same image.

    python3 scripts/bench/diffusion_hand_check.py [--threads 2] [--size 256] [--steps 4]

Completes bench-work/sd15-random (the UNet and VAE of diffusion_vs_diffusers.py) into a pipeline folder as
people have them: a CLIP ViT-L/14-shaped text encoder (123M parameters, random), the real CLIP vocabulary
(fixtures/diffusion/clip-tokenizer/vocab-merges), SD 1.5's PNDM scheduler config, model_index.json. Then
runs StableDiffusionPipeline (Euler from_config, CFG 7.5, seed 0, float32, torch CPU) and `tessera
generate-image` on the same prompt and prints the largest differences of the final latents and the image (both kept in bench-work/hand-check/).

Tessera's binary: $TESSERA, else .build/release/tessera.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "scripts" / "fixtures"))

from diffusion_vs_diffusers import MODEL, make_model  # noqa: E402
from diffusion_references import SD15_CONFIG  # noqa: E402

PROMPT = "a photograph of an astronaut riding a horse"


def complete_folder() -> None:
    make_model()
    if not (MODEL / "text_encoder" / "model.safetensors").exists():
        from transformers import CLIPTextConfig, CLIPTextModel
        torch.manual_seed(1)
        config = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                                projection_dim=768, bos_token_id=0, eos_token_id=2, pad_token_id=1)
        CLIPTextModel(config).save_pretrained(MODEL / "text_encoder")
        # Real SD 1.5 folders name the tensors `text_model.…` (transformers 5 saves them without the prefix;
        # stable-diffusion.cpp finds the model's version only by the prefixed name).
        from safetensors.torch import load_file, save_file
        path = MODEL / "text_encoder" / "model.safetensors"
        save_file({f"text_model.{name}": tensor for name, tensor in load_file(path).items()}, path, metadata={"format": "pt"})
    shutil.copytree(REPO / "fixtures" / "diffusion" / "clip-tokenizer" / "vocab-merges", MODEL / "tokenizer", dirs_exist_ok=True)
    (MODEL / "scheduler").mkdir(exist_ok=True)
    (MODEL / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD15_CONFIG, indent=2))
    (MODEL / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.6.0", "feature_extractor": [None, None],
        "requires_safety_checker": False, "safety_checker": [None, None], "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}, indent=2))


def run_diffusers(size: int, steps: int, seed: int, out: Path) -> float:
    import diffusers
    from safetensors.numpy import save_file
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(MODEL, safety_checker=None, requires_safety_checker=False,
                                                             torch_dtype=torch.float32)
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    final = {}

    def keep(_pipe, _step, _t, kwargs):
        final["latents"] = kwargs["latents"].clone()
        return kwargs

    start = time.perf_counter()
    with torch.inference_mode():
        result = pipe(PROMPT, num_inference_steps=steps, guidance_scale=7.5, width=size, height=size,
                      generator=torch.Generator("cpu").manual_seed(seed), output_type="np", callback_on_step_end=keep)
    elapsed = time.perf_counter() - start
    save_file({"latents": final["latents"].numpy(), "image": np.ascontiguousarray(result.images[0], dtype=np.float32)}, out)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from safetensors.numpy import load_file

    complete_folder()
    binary = os.environ.get("TESSERA", str(REPO / ".build" / "release" / "tessera"))
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {args.threads}, load average {os.getloadavg()}", flush=True)
    work = MODEL.parent / "hand-check"
    work.mkdir(exist_ok=True)
    ours, theirs = work / "tessera.safetensors", work / "diffusers.safetensors"
    start = time.perf_counter()
    subprocess.run([binary, "generate-image", "--model", str(MODEL), "--prompt", PROMPT, "--steps", str(args.steps),
                    "--guidance", "7.5", "--scheduler", "euler", "--width", str(args.size), "--height", str(args.size),
                    "--seed", str(args.seed), "--threads", str(args.threads), "--output", str(work / "tessera.png"),
                    "--tensors", str(ours)], check=True)
    tessera_s = time.perf_counter() - start
    diffusers_s = run_diffusers(args.size, args.steps, args.seed, theirs)
    a, b = load_file(ours), load_file(theirs)
    latent_abs = float(np.abs(a["latents"] - b["latents"]).max())
    latent_rel = float((np.abs(a["latents"] - b["latents"]) / np.maximum(1, np.abs(b["latents"]))).max())
    image_abs = float(np.abs(a["image"] - b["image"]).max())
    inside = float(((b["image"] > 0) & (b["image"] < 1)).mean())
    print(f"load average after: {os.getloadavg()}")
    print(f"diffusers' image: {inside:.1%} of values inside (0, 1) (not clipped), mean {b['image'].mean():.3f}, "
          f"std {b['image'].std():.3f}; latents std {b['latents'].std():.3f}")
    print(f"{args.size}², {args.steps} Euler steps, CFG 7.5, seed {args.seed}: latents max abs {latent_abs:.3g} "
          f"(max rel {latent_rel:.3g}), image max abs {image_abs:.3g}; "
          f"end to end Tessera {tessera_s:.1f} s (with loading), diffusers {diffusers_s:.1f} s (after loading)")
    sys.exit(0 if image_abs <= 1e-2 else 1)


if __name__ == "__main__":
    main()
