#!/usr/bin/env bash
# Converts the embedded vision-language model (LlavaForConditionalGeneration: CLIP ViT tower,
# two-layer projector, Llama decoder) to llama.cpp's GGUF + mmproj with llama.cpp's own converters,
# for `llama-server -m OUT/model-f16.gguf --mmproj OUT/mmproj-model-f16.gguf`.
#
#   LLAMA_CPP_SRC=/path/to/llama.cpp scripts/bench/vlm_to_llamacpp.sh OUT [MODEL_FOLDER]
#
# The decoder: convert_hf_to_gguf.py handles it. The vision tower: convert_hf_to_gguf.py --mmproj
# refuses it ("Unsupported model type: clip_vision_model": its LlavaForConditionalGeneration class
# reads Pixtral/Mistral towers only), so this uses llama.cpp's LLaVA-1.5 path
# (tools/mtmd/legacy-models/convert_image_encoder_to_gguf.py). Its llava_surgery_v2.py cannot split
# this checkpoint (transformers-5 names: `vision_tower.*` without `vision_model.`, and the projector
# spread over two shards, while it reads one), so the split is done here: the tower as a CLIP vision
# folder, the projector as llava.projector. The legacy converter needs transformers 4 (it uses
# CLIPVisionModel.vision_model, gone in 5): a scratch virtual environment under OUT gets 4.57.1.
set -euo pipefail
: "${LLAMA_CPP_SRC:?set LLAMA_CPP_SRC to a llama.cpp source tree (with convert_hf_to_gguf.py and gguf-py)}"
out=$(realpath -m "$1")
model=$(realpath "${2:-$(dirname "$0")/../../Sources/tessera/Resources/DefaultModel}")
mkdir -p "$out/clip"
export PYTHONPATH="$LLAMA_CPP_SRC/gguf-py"
python3 "$LLAMA_CPP_SRC/convert_hf_to_gguf.py" "$model" --outfile "$out/model-f16.gguf" --outtype f16
python3 - "$model" "$out" <<'EOF'
import glob, json, shutil, sys
import torch
from safetensors.torch import load_file, save_file
model, out = sys.argv[1:]
tensors = {}
for f in sorted(glob.glob(f"{model}/*.safetensors")):
    tensors.update(load_file(f))
torch.save({k: v.float() for k, v in tensors.items() if k.startswith("multi_modal_projector.")}, f"{out}/llava.projector")
save_file({"vision_model." + k.removeprefix("vision_tower."): v.float() for k, v in tensors.items() if k.startswith("vision_tower.")},
          f"{out}/clip/model.safetensors")
config = json.load(open(f"{model}/config.json"))["vision_config"] | {"architectures": ["CLIPVisionModel"]}
json.dump(config, open(f"{out}/clip/config.json", "w"), indent=1)
shutil.copy(f"{model}/preprocessor_config.json", f"{out}/clip/")
EOF
if [ ! -x "$out/venv/bin/python" ]; then
    python3 -m venv --system-site-packages "$out/venv"
    "$out/venv/bin/pip" install -q "transformers==4.57.1"
fi
"$out/venv/bin/python" "$LLAMA_CPP_SRC/tools/mtmd/legacy-models/convert_image_encoder_to_gguf.py" -m "$out/clip" \
    --llava-projector "$out/llava.projector" --output-dir "$out" --clip-model-is-vision
ls -l "$out"/*.gguf
