"""Classify images and print the top classes with names and percentages.

    python tools/predict.py cat.jpg dog.png --model inception_v4 --weights imagenet --top 5
    python tools/predict.py cat.jpg --model inception_v4.tf_in1k --json
    python tools/predict.py flower.jpg --model runs/flowers/best       # a fine-tuned run: its classes and size
    python tools/predict.py flower.jpg --model inception_resnet_v2_slim --weights flowers.weights.h5 \\
        --classes 5 --labels flowers.txt

--model is a graph name (with --weights), or a preset (a named one, a preset folder such as a
training run's best/, or an hf:// URI), which brings its class names, input size and
preprocessing. Images get TF-slim's evaluation preprocessing by default (central crop keeping
87.5% of each side, bilinear resize, scale to [-1, 1]), decoded as tools/evaluate.py decodes
them. ``--labels`` is a text file with one class name per line, in output order; without it
1000/1001-class models use the ImageNet names.
"""

from __future__ import annotations

import argparse
import sys

from inception_keras.cli import options


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("predict", __doc__)
    parser.add_argument("images", nargs="+", help="image files (JPEG, PNG, ...)")
    options.add_model_options(parser)
    options.add_max_pixels(options.add_preprocessing_options(parser))
    out = options.add_output_options(parser, progress=False)
    out.add_argument("--top", type=int, help="classes to show per image (default 5, or all when fewer)")
    return parser


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    import numpy as np  # noqa: PLC0415

    from inception_keras.datasets import load_for_eval  # noqa: PLC0415

    try:
        if args.top is not None and (args.top < 1 or (args.classes is not None and args.top > args.classes)):
            raise ValueError(f"--top must be between 1 and the number of classes, got {args.top}")
        loaded = options.load_model(args)
        model, names, prep = loaded.model, loaded.class_names, loaded.preprocessing
        top = min(5, len(names)) if args.top is None else args.top
        if top > len(names):
            raise ValueError(f"--top must be between 1 and {len(names)} (the model's classes), got {args.top}")
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results, failed = [], 0
    for path in args.images:
        try:
            with options.max_pixels(args):
                x = load_for_eval(path, prep)[None]
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            results.append({"image": path, "error": str(e)})
            failed += 1
            continue
        probs = np.asarray(model(x, training=False))[0]
        order = np.argsort(-probs, kind="stable")[:top]
        results.append({"image": path, "top": [
            {"index": int(i), "name": names[i], "probability": float(probs[i])} for i in order]})
    lines = []
    for r in results:
        if "error" in r:
            continue
        lines.append(r["image"])
        width = max(len(t["name"]) for t in r["top"])
        lines += [f"  {t['name']:<{width}}  ({100 * t['probability']:.2f}%)" for t in r["top"]]
    options.emit(args, {"model": loaded.name, "weights": loaded.weights, "results": results}, "\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
