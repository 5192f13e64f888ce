"""Derive Tessera cost models (format tessera-cost-model/1) for GPU deployments from published
model shapes and GPU datasheets, with a roofline and stated efficiency assumptions.

Run: python3 derive_cost_models.py   (writes the *.json files next to this script)

These are estimates, not measurements: every constant below is either a published figure (cited in
SOURCES) or an assumption (listed in ASSUMPTIONS and in each file's notes). A profile measured on
the real engine replaces them.
"""
import json
from pathlib import Path

GPUS = {
    # bf16 dense tensor TFLOP/s and HBM GB/s from the NVIDIA datasheets.
    "A100-SXM4-80GB": dict(tflops=312, hbm_gbps=2039, memory_gb=80,
                           source="NVIDIA A100 Tensor Core GPU datasheet: 312 TFLOPS BF16 dense, 2,039 GB/s HBM2e, 80 GB"),
    "H100-SXM5-80GB": dict(tflops=989, hbm_gbps=3350, memory_gb=80,
                           source="NVIDIA H100 Tensor Core GPU datasheet: 989 TFLOPS BF16 dense, 3.35 TB/s HBM3, 80 GB"),
}

MODELS = {
    "Qwen2.5-VL-7B": dict(
        llm_params=7.6e9, layers=28, hidden=3584, kv_heads=4, head_dim=128,
        vit_params=0.67e9, vit_tokens_per_llm_token=4, image_token_weight=1.0,
        image_rule={"qwen2VL": {"patch": 14, "merge": 2, "minPixels": 3136, "maxPixels": 1003520}},
        gpus=1,
        source="Qwen2.5-VL technical report (arXiv 2502.13923) and the Qwen/Qwen2.5-VL-7B-Instruct config: 28 layers, hidden 3584, 4 KV heads of 128, ViT 32 layers hidden 1280 with 2x2 patch merging; maxPixels 1280*28*28 as commonly served",
    ),
    "Llama-3.2-11B-Vision": dict(
        llm_params=9.8e9, layers=40, hidden=4096, kv_heads=8, head_dim=128,
        vit_params=0.85e9, vit_tokens_per_llm_token=1, image_token_weight=0.05,
        image_rule={"tiles": {"tileSize": 560, "maxTiles": 4, "tokensPerTile": 1601, "thumbnail": False}},
        gpus=1,
        source="meta-llama/Llama-3.2-11B-Vision config: 40 text layers (8 cross-attention), hidden 4096, 8 KV heads of 128; vision encoder 32+8 layers hidden 1280, 560 px tiles, up to 4 tiles of 1601 tokens; image tokens enter through cross-attention, not the prefill sequence",
    ),
    "InternVL2-26B": dict(
        llm_params=19.9e9, layers=48, hidden=6144, kv_heads=8, head_dim=128,
        vit_params=5.9e9, vit_tokens_per_llm_token=4, image_token_weight=1.0,
        image_rule={"tiles": {"tileSize": 448, "maxTiles": 6, "tokensPerTile": 256, "thumbnail": True}},
        gpus=2,
        source="OpenGVLab/InternVL2-26B model card: InternViT-6B-448px-V1-5 + internlm2-chat-20b (48 layers, hidden 6144, 8 KV heads of 128); 448 px tiles, pixel shuffle to 256 tokens per tile; max_num 6 tiles plus thumbnail as in the card's examples",
    ),
}

ASSUMPTIONS = {
    "prefill_mfu": 0.5,        # fraction of peak FLOP/s reached by LLM prefill GEMMs
    "encoder_mfu": 0.4,        # vision encoders run smaller GEMMs
    "decode_bw_eff": 0.7,      # fraction of HBM bandwidth reached by decode
    "decode_compute_util": 0.3,
    "tp_efficiency": 0.9,      # per extra tensor-parallel GPU
    "prefill_fixed_ms": 5.0,
    "decode_fixed_ms": 3.0,    # scheduling, sampling, kernel launches per step
    "encode_fixed_ms": 3.0,
    "preprocess_ms_per_image": 15.0,  # CPU decode/resize/normalise of a ~1 MP image
    "transfer_gbps": 50.0,     # effective inter-instance copy bandwidth (NVLink/RDMA mix)
    "transfer_latency_ms": 1.0,
    "memory_utilisation": 0.9,
    "activation_reserve_gb": 4.0,
    "startup_seconds": 60.0,   # container start + weight load + graph capture
    "role_switch_seconds": 0.7,  # EPD (arXiv 2501.05460) reports role switches under 0.7 s
}


def derive(model_name, gpu_name, gpus=None):
    m, g, a = MODELS[model_name], GPUS[gpu_name], ASSUMPTIONS
    n = gpus or m["gpus"]
    speedup = 1 + (n - 1) * a["tp_efficiency"]
    flops = g["tflops"] * 1e12 * speedup
    bw = g["hbm_gbps"] * 1e9 * speedup
    kv_bytes = 2 * m["layers"] * m["kv_heads"] * m["head_dim"] * 2  # K and V, bf16
    weights = 2 * (m["llm_params"] + m["vit_params"])
    ms = lambda seconds: round(seconds * 1000, 9)
    kv_capacity = int((n * g["memory_gb"] * 1e9 * a["memory_utilisation"] - weights - n * a["activation_reserve_gb"] * 1e9) / kv_bytes)
    image_bytes = m["hidden"] * 2
    return {
        "format": "tessera-cost-model/1",
        "model": model_name,
        "hardware": f"{n}x {gpu_name}" if n > 1 else gpu_name,
        "gpusPerInstance": n,
        "sources": [m["source"], g["source"], "Roofline derivation: examples/sim/costmodels/derive_cost_models.py"],
        "notes": "Estimated, not measured: " + ", ".join(f"{k}={v}" for k, v in ASSUMPTIONS.items()),
        "imageTokens": m["image_rule"],
        "encode": {
            "fixedMs": a["encode_fixed_ms"],
            "perImageMs": a["preprocess_ms_per_image"],
            "perTokenMs": ms(2 * m["vit_params"] * m["vit_tokens_per_llm_token"] / (flops * a["encoder_mfu"])),
            "maxBatchTokens": 8192,
        },
        "prefill": {
            "fixedMs": a["prefill_fixed_ms"],
            "perTokenMs": ms(2 * m["llm_params"] / (flops * a["prefill_mfu"])),
            "perTokenSquaredMs": ms(2 * m["layers"] * m["hidden"] / (flops * a["prefill_mfu"])),
            "imageTokenWeight": m["image_token_weight"],
            "maxBatchTokens": 8192,
            "maxBatchRequests": 64,
        },
        "decode": {
            "fixedMs": round(a["decode_fixed_ms"] + ms(2 * m["llm_params"] / (bw * a["decode_bw_eff"])), 6),
            "perSequenceMs": ms(2 * m["llm_params"] / (flops * a["decode_compute_util"])),
            "perContextTokenMs": ms(kv_bytes / (bw * a["decode_bw_eff"])),
            "maxBatch": 256,
        },
        "transfer": {
            "latencyMs": a["transfer_latency_ms"],
            "bandwidthGBps": a["transfer_gbps"],
            "bytesPerImageToken": image_bytes,
            "bytesPerKVToken": kv_bytes,
        },
        "memory": {
            "kvCapacityTokens": kv_capacity,
            "encoderCacheTokens": int(2e9 / image_bytes),
            "prefixCacheTokens": kv_capacity // 10,
        },
        "lifecycle": {"startupSeconds": a["startup_seconds"], "roleSwitchSeconds": a["role_switch_seconds"]},
    }


FILES = {
    "qwen2.5-vl-7b-a100.json": ("Qwen2.5-VL-7B", "A100-SXM4-80GB"),
    "qwen2.5-vl-7b-h100.json": ("Qwen2.5-VL-7B", "H100-SXM5-80GB"),
    "llama-3.2-11b-vision-a100.json": ("Llama-3.2-11B-Vision", "A100-SXM4-80GB"),
    "internvl2-26b-a100.json": ("InternVL2-26B", "A100-SXM4-80GB"),
    # One GPU per instance, as EPD deploys it on 8 GPUs: 52 GB of weights leave ~16 GB for KV.
    "internvl2-26b-a100-1gpu.json": ("InternVL2-26B", "A100-SXM4-80GB", 1),
}

if __name__ == "__main__":
    here = Path(__file__).parent
    for name, spec in FILES.items():
        (here / name).write_text(json.dumps(derive(*spec), indent=2) + "\n")
        print("wrote", name)
