"""Input pipeline only: JPEG decode-then-crop against window decoding (``decode_and_crop_jpeg``).

    python benchmarks/jpeg_window_pipeline.py [--folder DIR] [--images 200] [--rounds 5]
        [--batch-size 32] [--crop-fraction 0.875] [--json out.json]

Without ``--folder`` it writes ``--images`` photo-sized (500x375, quality 90) JPEGs with
smooth gradients, shapes and sensor-like noise into a temporary folder. Both pipelines read
the same files through ``tf.data`` (parallel map, batch, prefetch) and produce the slim
preprocessing's 299x299 inputs; no model runs. ``before`` is the old pipeline: decode the
whole JPEG, then ``preprocess_for_eval`` (central crop, resize). ``after`` is
``datasets.decode_and_preprocess``, which decodes only the crop's window. The two are run
alternately, ``--rounds`` times each after one warm-up pass, so that machine load affects
them alike; the table gives images/s per round, the best and the median, the CPU time per
image (all threads of the process: steadier than wall time on a shared machine) and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from inception_keras.data import datasets, images, preprocessing  # noqa: E402


def write_photos(folder: str, count: int, seed: int = 0) -> list[str]:
    """``count`` 500x375 JPEGs that compress like photos (not like flat noise or flat colour)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:375, 0:500].astype(np.float32)
    paths = []
    for i in range(count):
        base = np.stack([
            128 + 100 * np.sin(xx / rng.uniform(20, 90) + rng.uniform(0, 6)),
            128 + 100 * np.cos(yy / rng.uniform(20, 90) + rng.uniform(0, 6)),
            128 + 80 * np.sin((xx + yy) / rng.uniform(30, 120)),
        ], axis=-1)
        for _ in range(6):  # a few filled discs: edges the DCT has to code
            cy, cx, r = rng.uniform(0, 375), rng.uniform(0, 500), rng.uniform(15, 90)
            base[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
        base += rng.normal(0, 6, base.shape)
        path = os.path.join(folder, f"photo_{i:05d}.jpg")
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def pipeline(paths, decode, batch_size: int):
    ds = tf.data.Dataset.from_tensor_slices(paths).map(tf.io.read_file, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def images_per_second(ds, count: int) -> tuple[float, float]:
    """One pass: (images/s of wall time, CPU milliseconds of this process, all threads, per image)."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in ds:
        pass
    return count / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="JPEGs to read (default: generated photo-sized JPEGs)")
    parser.add_argument("--images", type=int, default=200, help="JPEGs to generate without --folder")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes of each pipeline")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--crop-fraction", type=float, default=0.875)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.folder:
            paths = sorted(os.path.join(args.folder, f) for f in os.listdir(args.folder)
                           if f.lower().endswith((".jpg", ".jpeg")))
        else:
            paths = write_photos(tmp, args.images)
        if not paths:
            parser.error(f"no .jpg/.jpeg files in {args.folder}")
        prep = preprocessing.Preprocessing("slim", 299, args.crop_fraction)
        variants = {
            "before": lambda data: preprocessing.preprocess_for_eval(images.decode_image(data), prep),
            "after": lambda data: preprocessing.decode_and_preprocess(data, prep),
        }
        pipes = {name: pipeline(paths, fn, args.batch_size) for name, fn in variants.items()}
        for ds in pipes.values():  # warm-up: tracing, file cache
            images_per_second(ds, len(paths))
        rates = {name: [] for name in pipes}
        cpu_ms = {name: [] for name in pipes}
        for _ in range(args.rounds):
            for name, ds in pipes.items():
                rate, ms = images_per_second(ds, len(paths))
                rates[name].append(rate)
                cpu_ms[name].append(ms)

    print(f"{len(paths)} JPEGs, crop fraction {args.crop_fraction:g}, batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs; images/s per round")
    print(f"{'pipeline':<8}  {'rounds':<48}  {'best':>7}  {'median':>7}  {'CPU ms/image (median)':>21}")
    for name, values in rates.items():
        rounds = " ".join(f"{v:.0f}" for v in values)
        print(f"{name:<8}  {rounds:<48}  {max(values):7.1f}  {statistics.median(values):7.1f}  "
              f"{statistics.median(cpu_ms[name]):21.2f}")
    best = max(rates["after"]) / max(rates["before"])
    median = statistics.median(rates["after"]) / statistics.median(rates["before"])
    cpu = statistics.median(cpu_ms["before"]) / statistics.median(cpu_ms["after"])
    print(f"after / before: {best:.2f}x best images/s, {median:.2f}x median images/s, {cpu:.2f}x less CPU per image")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"images": len(paths), "crop_fraction": args.crop_fraction, "batch_size": args.batch_size,
                       "rates": rates, "cpu_ms_per_image": cpu_ms, "cpu_ratio": cpu, "ratio_best": best, "ratio_median": median}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
