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
import json
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="predict", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="inception_v4", help="registry name (default inception_v4)")
    model.add_argument("--weights", default="imagenet",
                       help="'imagenet', a Keras weights file, a TF-slim checkpoint, or 'none' for random weights")
    model.add_argument("--classes", type=int, default=1000, help="classifier outputs (default 1000)")
    model.add_argument("--labels", help="class names, one per line, in output order")
    pre = parser.add_argument_group("preprocessing")
    pre.add_argument("--image-size", type=int, default=299)
    pre.add_argument("--crop-fraction", type=float, default=0.875)
    out = parser.add_argument_group("output")
    out.add_argument("--top", type=int, default=5, help="classes to show per image (default 5)")
    out.add_argument("--json", action="store_true", help="print JSON instead of the table")
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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    import numpy as np  # noqa: PLC0415

    from inception_keras import create_model  # noqa: PLC0415
    from inception_keras.preprocessing import load_image  # noqa: PLC0415

    try:
        names = _labels(args.labels, args.classes)
        if not 1 <= args.top <= args.classes:
            raise ValueError(f"--top must be between 1 and {args.classes}, got {args.top}")
        weights = None if args.weights.lower() == "none" else args.weights
        model = create_model(args.model, weights=weights, classes=args.classes,
                             input_shape=(args.image_size, args.image_size, 3))
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results, failed = [], 0
    for path in args.images:
        try:
            x = load_image(path, args.image_size, args.crop_fraction)[None]
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            results.append({"image": path, "error": str(e)})
            failed += 1
            continue
        probs = np.asarray(model(x, training=False))[0]
        order = np.argsort(-probs, kind="stable")[: args.top]
        results.append({"image": path, "top": [
            {"index": int(i), "name": names[i], "probability": float(probs[i])} for i in order]})
    if args.json:
        print(json.dumps({"model": args.model, "weights": args.weights, "results": results}, indent=2))
    else:
        for r in results:
            if "error" in r:
                continue
            print(r["image"])
            width = max(len(t["name"]) for t in r["top"])
            for t in r["top"]:
                print(f"  {t['name']:<{width}}  ({100 * t['probability']:.2f}%)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
