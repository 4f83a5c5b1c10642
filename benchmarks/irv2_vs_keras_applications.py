"""Build time and CPU inference of ``variant="slim"`` against keras.applications.InceptionResNetV2.

    python benchmarks/irv2_vs_keras_applications.py [--builds 3] [--batch 8] [--runs 10] [--json out.json]

Both models are built and timed in the same process, alternating, so that machine load
affects them alike. Inference is a compiled ``predict_on_batch`` at 299x299 after two
warm-up calls; the figure is the median of ``--runs`` calls.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from inception_keras import create_inception_resnet_v2  # noqa: E402


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=3, help="builds of each model (median reported)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10, help="timed inference calls per model")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    builders = {
        "keras.applications": lambda: keras.applications.InceptionResNetV2(weights=None),
        "inception_keras slim": lambda: create_inception_resnet_v2(variant="slim"),
    }
    build_times = {k: [] for k in builders}
    models = {}
    for _ in range(args.builds):
        for key, fn in builders.items():
            keras.backend.clear_session()
            seconds, models[key] = _timed(fn)
            build_times[key].append(seconds)

    # Rebuild both side by side (clear_session above dropped the first) with equal weights.
    reference = keras.applications.InceptionResNetV2(weights=None)
    ours = create_inception_resnet_v2(variant="slim")
    ours.set_weights(reference.get_weights())
    x = np.random.default_rng(0).uniform(-1, 1, (args.batch, 299, 299, 3)).astype("float32")
    infer = {"keras.applications": [], "inception_keras slim": []}
    pairs = {"keras.applications": reference, "inception_keras slim": ours}
    for model in pairs.values():
        for _ in range(2):
            model.predict_on_batch(x)
    for _ in range(args.runs):
        for key, model in pairs.items():
            infer[key].append(_timed(lambda m=model: m.predict_on_batch(x))[0])
    diff = float(np.max(np.abs(reference.predict_on_batch(x) - ours.predict_on_batch(x))))

    rows = []
    for key in builders:
        rows.append((key, statistics.median(build_times[key]), statistics.median(infer[key])))
    base_build, base_infer = rows[0][1], rows[0][2]
    print(f"{'model':<22} {'build s':>8} {'x ref':>6} {'batch-' + str(args.batch) + ' s':>10} {'x ref':>6}")
    for key, b, i in rows:
        print(f"{key:<22} {b:8.2f} {b / base_build:6.2f} {i:10.3f} {i / base_infer:6.3f}")
    print(f"max |difference| of the outputs with equal weights: {diff:.2e}")
    result = {
        "backend": keras.backend.backend(),
        "batch": args.batch,
        "build_seconds": {k: build_times[k] for k in builders},
        "inference_seconds": infer,
        "build_ratio": rows[1][1] / base_build,
        "inference_ratio": rows[1][2] / base_infer,
        "max_abs_difference": diff,
    }
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(result, f, indent=2)
        os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
