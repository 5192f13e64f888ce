#!/usr/bin/env python3
"""Random-weight add-ons for a full-size SD 1.x pipeline folder (the serving benchmarks' LoRAs and ControlNets).

    python3 scripts/bench/make_bench_adapters.py [--model bench-work/sd15-random] [--out bench-work/sd15-adapters] \
        [--ranks 8,16,32,64] [--controlnets 3]

Writes into --out (never committed; fixed seeds, so every run writes the same files; ControlNet folders
already there are kept):
- `lora-rN.safetensors`, one LoRA per rank in --ranks, on every transformer block's attention projections
  (`to_q`, `to_k`, `to_v`, `to_out.0`) and feed-forward (`ff.net.0.proj`, `ff.net.2`), shapes read from the
  UNet's safetensors header (nothing loaded). Even-numbered ones in diffusers/PEFT layout
  (`unet.<module>.lora_A/lora_B.weight`, alpha in the `lora_adapter_metadata` header entry, as
  `save_lora_weights` writes them), odd-numbered ones in kohya's (`lora_unet_<module>.lora_down/lora_up.weight`
  and a float `.alpha`); float16, alpha = rank / 2. A is drawn at 1/√in, B at 0.3/√rank (PEFT's zero B would
  make the adapter a no-op).
- `controlnet-N/`, --controlnets diffusers ControlNets (`ControlNetModel` with the UNet's config: SD 1.5's
  ControlNet shape, 361 M parameters), every weight redrawn at fan-in scale (the zero convolutions too) and
  stored in float16 (0.7 GB each, as SD 1.5 ControlNets are usually distributed).
Prints the `--lora NAME=PATH` / `--controlnet NAME=DIR` arguments for `tessera serve`.
"""

import argparse
import json
import struct
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "fixtures"))

from weights import redraw_scaled  # noqa: E402

TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2")


def linear_shapes(unet: Path) -> dict[str, tuple[int, int]]:
    """`module -> (out, in)` of the targeted linear layers, from the safetensors header alone."""
    shapes = {}
    for file in sorted(unet.glob("*.safetensors")):
        with open(file, "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        for name, entry in header.items():
            module = name.removesuffix(".weight")
            if name.endswith(".weight") and len(entry["shape"]) == 2 and module.endswith(TARGETS) and ".transformer_blocks." in name:
                shapes[module] = tuple(entry["shape"])
    if not shapes:
        raise SystemExit(f"{unet}: no attention or feed-forward weights found")
    return dict(sorted(shapes.items()))


def make_lora(shapes: dict[str, tuple[int, int]], rank: int, kohya: bool, seed: int, path: Path) -> None:
    gen = torch.Generator().manual_seed(seed)
    alpha = rank / 2
    tensors = {}
    for module, (out_features, in_features) in shapes.items():
        down = (torch.randn(rank, in_features, generator=gen) / in_features**0.5).half()
        up = (torch.randn(out_features, rank, generator=gen) * 0.3 / rank**0.5).half()
        if kohya:
            key = "lora_unet_" + module.replace(".", "_")
            tensors |= {f"{key}.lora_down.weight": down, f"{key}.lora_up.weight": up, f"{key}.alpha": torch.tensor(alpha)}
        else:
            tensors |= {f"unet.{module}.lora_A.weight": down, f"unet.{module}.lora_B.weight": up}
    if kohya:
        metadata = {"ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(alpha)}
    else:
        config = {"unet.r": rank, "unet.lora_alpha": alpha, "unet.target_modules": sorted(TARGETS), "unet.peft_type": "LORA",
                  "unet.use_rslora": False, "unet.use_dora": False, "unet.alpha_pattern": {}, "unet.rank_pattern": {}}
        metadata = {"format": "pt", "lora_adapter_metadata": json.dumps(config, sort_keys=True)}
    save_file(tensors, path, metadata=metadata)


def make_controlnet(unet_config: dict, seed: int, folder: Path) -> None:
    from diffusers import ControlNetModel

    keys = ("in_channels", "flip_sin_to_cos", "freq_shift", "down_block_types", "only_cross_attention", "block_out_channels",
            "layers_per_block", "downsample_padding", "mid_block_scale_factor", "act_fn", "norm_num_groups", "norm_eps",
            "cross_attention_dim", "attention_head_dim", "use_linear_projection", "upcast_attention")
    controlnet = ControlNetModel(**{k: unet_config[k] for k in keys if k in unet_config})
    redraw_scaled(controlnet, seed, torch.float16)
    controlnet.to(torch.float16).save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "bench-work" / "sd15-random")
    parser.add_argument("--out", type=Path, default=REPO / "bench-work" / "sd15-adapters")
    parser.add_argument("--ranks", default="8,16,32,64", help="one LoRA per rank")
    parser.add_argument("--controlnets", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    arguments = []
    shapes = linear_shapes(args.model / "unet")
    for i, rank in enumerate(int(r) for r in args.ranks.split(",")):
        path = args.out / f"lora-r{rank}.safetensors"
        make_lora(shapes, rank, kohya=i % 2 == 1, seed=1100 + i, path=path)
        arguments += ["--lora", f"r{rank}={path}"]
    unet_config = json.loads((args.model / "unet" / "config.json").read_text())
    for i in range(args.controlnets):
        folder = args.out / f"controlnet-{i}"
        if not (folder / "diffusion_pytorch_model.safetensors").exists():
            make_controlnet(unet_config, seed=1200 + i, folder=folder)
        arguments += ["--controlnet", f"cn{i}={folder}"]
    print(" ".join(arguments))


if __name__ == "__main__":
    main()
