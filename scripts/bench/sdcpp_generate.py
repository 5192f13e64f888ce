"""One stable-diffusion.cpp text-to-image run on a diffusers folder, for diffusion_vs_diffusers.py.

    PYTHON_WITH_SDCPP scripts/bench/sdcpp_generate.py FOLDER SIZE STEPS THREADS

Runs Euler, CFG 7.5, seed 0 through the `stable-diffusion-cpp-python` package (its own copy of
stable-diffusion.cpp, built from source by pip) and prints one JSON line: seconds per denoising step
(sampling time / steps, each step both CFG passes), VAE decode seconds and peak RSS, read from
stable-diffusion.cpp's own log lines, which it writes to stderr, and the generate_image call's wall time
(end to end without loading).
"""

import json
import os
import re
import resource
import sys
import tempfile
import time

from stable_diffusion_cpp import StableDiffusion


def main() -> None:
    folder, size, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    # The library logs through C's stdio: send fd 2 to a file for the run, then read the timings.
    log = tempfile.TemporaryFile(mode="w+")
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)
    try:
        sd = StableDiffusion(model_path=folder, n_threads=threads, verbose=True)
        start = time.perf_counter()
        sd.generate_image(prompt="a photograph of an astronaut riding a horse", width=size, height=size,
                          sample_steps=steps, cfg_scale=7.5, sample_method="euler", seed=0)
        end_to_end = time.perf_counter() - start
    finally:
        os.dup2(saved, 2)
    log.seek(0)
    text = log.read()

    def seconds(what: str) -> float:
        found = re.findall(rf"{what} completed, taking ([0-9.]+)s", text)
        if not found:
            sys.exit(f"stable-diffusion.cpp printed no '{what}' timing:\n{text[-2000:]}")
        return float(found[-1])

    print(json.dumps({"unet_step_s": seconds("sampling") / steps, "vae_decode_s": seconds("decode_first_stage"),
                      "end_to_end_s": end_to_end,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
