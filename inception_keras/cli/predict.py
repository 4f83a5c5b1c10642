"""Classify images and print the top classes with names and percentages.

    python tools/predict.py cat.jpg dog.png --model inception_v4 --weights imagenet --top 5
    python tools/predict.py flower.jpg --model inception_resnet_v2_slim --weights flowers.weights.h5 \\
        --classes 5 --labels flowers.txt --json

Images get TF-slim's evaluation preprocessing (central crop keeping 87.5% of each side,
bilinear resize, scale to [-1, 1]). ``--labels`` is a text file with one class name per line,
in output order; without it 1000/1001-class models use the ImageNet names.
"""

from __future__ import annotations

import argparse
import sys

from inception_keras.cli import options


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("predict", __doc__)
    parser.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    options.add_model_options(parser)
    options.add_preprocessing_options(parser)
    out = options.add_output_options(parser, progress=False)
    out.add_argument("--top", type=int, default=5, help="classes to show per image (default 5)")
    return parser


def _labels(path, classes):
    from inception_keras.preprocessing import imagenet_classes  # noqa: PLC0415

    if path:
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
        if len(names) != classes:
            raise ValueError(f"{path} has {len(names)} names but the model has {classes} classes")
        return names
    if classes == 1000:
        return [name for _, name in imagenet_classes()]
    if classes == 1001:
        return ["background"] + [name for _, name in imagenet_classes()]
    return [f"class {i}" for i in range(classes)]


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    import numpy as np  # noqa: PLC0415

    from inception_keras import create_model  # noqa: PLC0415
    from inception_keras.datasets import Preprocessing, load_for_eval  # noqa: PLC0415

    try:
        names = _labels(args.labels, args.classes)
        if not 1 <= args.top <= args.classes:
            raise ValueError(f"--top must be between 1 and {args.classes}, got {args.top}")
        name = options.resolved_model(args)
        prep = Preprocessing(args.preprocessing, args.input_size, args.crop_fraction)
        model = create_model(name, weights=options.weights_value(args.weights), classes=args.classes,
                             input_shape=(args.input_size, args.input_size, 3))
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results, failed = [], 0
    for path in args.images:
        try:
            x = load_for_eval(path, prep)[None]
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            results.append({"image": path, "error": str(e)})
            failed += 1
            continue
        probs = np.asarray(model(x, training=False))[0]
        order = np.argsort(-probs, kind="stable")[: args.top]
        results.append({"image": path, "top": [
            {"index": int(i), "name": names[i], "probability": float(probs[i])} for i in order]})
    lines = []
    for r in results:
        if "error" in r:
            continue
        lines.append(r["image"])
        width = max(len(t["name"]) for t in r["top"])
        lines += [f"  {t['name']:<{width}}  ({100 * t['probability']:.2f}%)" for t in r["top"]]
    options.emit(args, {"model": name, "weights": args.weights, "results": results}, "\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
