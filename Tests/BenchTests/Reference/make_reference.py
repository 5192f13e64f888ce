"""Reference summaries for the bench report: numpy's mean, median, 99th percentile and std (in ms)."""
import json
import pathlib

import numpy as np

samples = {
    "uniform": [0.001 * i for i in range(1, 101)],
    "skewed": [0.5, 0.01, 0.02, 0.02, 3.0, 0.07, 0.011],
    "single": [0.25],
}
out = {}
for name, values in samples.items():
    ms = np.array(values) * 1000
    out[name] = {"seconds": values, "mean": ms.mean(), "median": float(np.median(ms)),
                 "p99": float(np.percentile(ms, 99)), "std": float(ms.std())}
path = pathlib.Path(__file__).with_name("bench_stats.json")
path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
