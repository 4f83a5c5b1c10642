"""Keras (TensorFlow) against the cached ONNX Runtime and LiteRT exports of ``--runtime``, side by side.

    python benchmarks/runtime_speed.py --model inception_v4 --threads 2 --rounds 3

Builds the classifier (random weights unless ``--model`` is a preset), gets its cached exports
(:func:`inception_keras.runtimes.cache.cached_classifier`: the first run exports and checks
them, later runs reuse them), then times the three runtimes alternately in one process: batch 1
(median and p90 of ``--runs`` calls per round) and batch ``--batch`` (images/s), ``--rounds``
rounds. Last, their top-1 agreement with Keras and largest probability difference on
``--images`` generated images (colour ramps and noise, through the classifier's preprocessing).
Prints a table; ``--json PATH`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

import numpy as np


def _images(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = int(rng.integers(240, 400)), int(rng.integers(240, 400))
        yy, xx = np.mgrid[0:h, 0:w]
        ramp = np.stack([xx / w, yy / h, 1 - xx / w], -1) * rng.uniform(0, 255, 3) + rng.uniform(0, 80, 3)
        out.append(np.clip(ramp + rng.normal(0, 25, (h, w, 3)), 0, 255).astype("uint8"))
    return out


def _time(fn, x, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="inception_v4")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5, help="batch-1 calls per round")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--batch-runs", type=int, default=2, help="batch calls per round")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--cache-root", default=None, help="default: a new temporary folder")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import inception_keras as ik
    from inception_keras.runtimes.cache import cached_classifier

    root = args.cache_root or tempfile.mkdtemp(prefix="runtime-speed-")
    clf = ik.ImageClassifier.from_preset(args.model)
    size = clf.preparation.image_size
    runners, setup = {"keras": clf}, {}
    for runtime in ("onnxruntime", "litert"):
        for attempt in ("first", "again"):  # the first call exports (unless cached), the second reuses
            start = time.perf_counter()
            runners[runtime] = cached_classifier(clf, runtime, threads=args.threads, cache_root=root)
            setup[f"{runtime} {attempt}"] = round(time.perf_counter() - start, 2)
    rng = np.random.default_rng(1)
    one = rng.uniform(-1, 1, (1, size, size, 3)).astype("float32")
    many = rng.uniform(-1, 1, (args.batch, size, size, 3)).astype("float32")
    times = {name: {"b1": [], "bn": []} for name in runners}
    for name, r in runners.items():  # warm-up: tracing, first calls
        r.predict_preprocessed(one), r.predict_preprocessed(many)
    for _ in range(args.rounds):
        for name, r in runners.items():
            times[name]["b1"] += _time(r.predict_preprocessed, one, args.runs)
            times[name]["bn"] += _time(r.predict_preprocessed, many, args.batch_runs)
    images = _images(args.images)
    probs = {name: r.predict(images, batch_size=args.batch, verbose=0) for name, r in runners.items()}
    rows = []
    for name, r in runners.items():
        b1, bn = times[name]["b1"], times[name]["bn"]
        rows.append({"runtime": name, "engine": getattr(getattr(r, "runner", None), "runtime", "Keras "
                     + __import__("keras").__version__ + " / TensorFlow " + __import__("tensorflow").__version__),
                     "batch1_median_ms": 1000 * statistics.median(b1),
                     "batch1_p90_ms": 1000 * float(np.percentile(b1, 90)),
                     "batch1_images_per_s": 1 / statistics.median(b1),
                     f"batch{args.batch}_images_per_s": args.batch / statistics.median(bn),
                     "top1_agreement": float(np.mean(probs[name].argmax(1) == probs["keras"].argmax(1))),
                     "max_prob_diff": float(np.abs(probs[name] - probs["keras"]).max())})
    base = rows[0]
    print(f"{args.model} at {size}, {args.threads} threads, {args.rounds} rounds alternating "
          f"({args.runs} x batch 1, {args.batch_runs} x batch {args.batch} per round); "
          f"agreement on {args.images} generated images")
    print(f"{'runtime':12} {'b1 median ms':>12} {'b1 p90 ms':>10} {'b1 img/s':>9} {'x':>6} "
          f"{f'b{args.batch} img/s':>9} {'x':>6} {'top-1 agr':>9} {'max |dp|':>9}")
    for row in rows:
        bn = row[f"batch{args.batch}_images_per_s"]
        print(f"{row['runtime']:12} {row['batch1_median_ms']:12.1f} {row['batch1_p90_ms']:10.1f} "
              f"{row['batch1_images_per_s']:9.2f} {row['batch1_images_per_s'] / base['batch1_images_per_s']:5.2f}x "
              f"{bn:9.2f} {bn / base[f'batch{args.batch}_images_per_s']:5.2f}x "
              f"{row['top1_agreement']:9.1%} {row['max_prob_diff']:9.2g}")
    for row in rows:
        print(f"  {row['runtime']}: {row['engine']}")
    print("setup seconds (first: export and check, again: reuse):", json.dumps(setup))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "setup_seconds": setup, "cache": root}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
