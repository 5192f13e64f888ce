"""Reference image-token counts for the Qwen2-VL rule, from transformers' own smart_resize.

Run: python3 Tests/SimulatorTests/Fixtures/make_reference.py  (writes image_tokens.json here)
"""
import json
from pathlib import Path

from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

SIZES = [(1024, 768), (4032, 3024), (336, 336), (1920, 1080), (30, 3000), (100, 60), (800, 600),
         (1536, 2048), (70, 42), (126, 98), (14, 14), (5000, 200), (640, 480), (1000, 1000)]
RULES = [dict(min_pixels=3136, max_pixels=1003520), dict(min_pixels=3136, max_pixels=12845056),
         dict(min_pixels=200704, max_pixels=401408)]

cases = []
for rule in RULES:
    for w, h in SIZES:
        hh, ww = smart_resize(h, w, factor=28, **rule)
        cases.append(dict(width=w, height=h, minPixels=rule["min_pixels"], maxPixels=rule["max_pixels"],
                          tokens=(hh // 28) * (ww // 28)))
(Path(__file__).parent / "image_tokens.json").write_text(json.dumps(cases, indent=1) + "\n")
print(len(cases), "cases")
