"""Evaluate a model's top-1/top-5 accuracy on ImageNet (or any labelled image set).

    python tools/evaluate.py --model inception_v4 --weights imagenet --data /data/imagenet/val \\
        --batch-size 128 --output reports/v4
    python tools/evaluate.py --model inception_resnet_v2_slim --weights imagenet \\
        --data /data/imagenet/val_flat --labels LOC_val_solution.csv --limit 5000
    python tools/evaluate.py --model inception_v4 --weights imagenet --data '/data/tfrecords/validation-*' \\
        --mixed-precision --jit-compile --strategy mirrored
    python tools/evaluate.py --model inception_resnet_v2_slim --weights flowers.weights.h5 --data /data/flowers/val

--data is a folder with one sub-folder per class (ImageNet synset folders get their ImageNet
labels), a folder of images with a label file (--labels, or LOC_val_solution.csv / labels.txt
inside it), or TF-slim/TPU TFRecord shards (a folder, a file or a glob). The model's number of
classes follows the data (+1 for a slim background class with --classes). Writes report.json
and report.md into --output.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

STRATEGIES = ("default", "mirrored")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="inception_v4", help="registry name (default inception_v4)")
    model.add_argument("--variant", choices=("paper", "slim"),
                       help="for inception_resnet_v2: 'slim' is the graph with published weights")
    model.add_argument("--weights", default="imagenet",
                       help="'imagenet', a Keras weights file, a TF-slim checkpoint, or 'none' (random)")
    model.add_argument("--classes", type=int,
                       help="classifier outputs (default: the number of classes of the data)")
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, help="image folder(s), flat folder or TFRecord shards")
    data.add_argument("--labels", help="label file for a flat folder (filename synset|index, or LOC_val_solution.csv)")
    data.add_argument("--split", help="TFRecord shard prefix when a folder holds several (default: validation)")
    data.add_argument("--limit", type=int, help="evaluate only the first N images")
    data.add_argument("--batch-size", type=int, default=64, help="global batch size (default 64)")
    pre = parser.add_argument_group("preprocessing")
    pre.add_argument("--preprocessing", default="slim", choices=("slim", "resize-crop"),
                     help="slim (default; central crop 0.875, resize, [-1, 1]) or resize-crop (shorter side "
                          "to size/0.875, centre crop)")
    pre.add_argument("--image-size", type=int, default=299, help="model input size (default 299)")
    pre.add_argument("--crop-fraction", type=float, default=0.875, help="kept fraction of each side (default 0.875)")
    run = parser.add_argument_group("run")
    run.add_argument("--mixed-precision", nargs="?", const="auto", choices=("auto", "bfloat16", "float16"),
                     help="compute in bfloat16 or float16 (auto: bfloat16, float16 on GPUs without bf16)")
    run.add_argument("--jit-compile", action="store_true", help="compile the forward pass with XLA")
    run.add_argument("--strategy", default="default", choices=STRATEGIES,
                     help="'mirrored' spreads each batch over every local GPU (tf.distribute)")
    run.add_argument("--pipeline-batches", type=int, default=20,
                     help="batches for the pipeline-only throughput figure (0: skip)")
    out = parser.add_argument_group("output")
    out.add_argument("--output", default="reports/evaluation", help="folder for report.json and report.md")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def make_strategy(name: str):
    import tensorflow as tf  # noqa: PLC0415

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def run(args, command: str | None = None) -> dict:
    """Library entry point: evaluate as the tool does and return the report (also written)."""
    import keras  # noqa: PLC0415

    from inception_keras import create_model  # noqa: PLC0415
    from inception_keras.datasets import Preprocessing, find_image_set  # noqa: PLC0415
    from inception_keras.profile import mixed_precision_policy  # noqa: PLC0415
    from inception_keras.registry import resolve_model_name  # noqa: PLC0415
    from inception_keras.evaluation import evaluate_model, format_text, write_report  # noqa: PLC0415

    name = resolve_model_name(args.model, args.variant)
    prep = Preprocessing(args.preprocessing, args.image_size, args.crop_fraction)
    image_set = find_image_set(args.data, args.labels, split=args.split)
    classes = args.classes or image_set.num_classes
    weights = None if args.weights.lower() == "none" else args.weights
    policy = mixed_precision_policy(args.mixed_precision)
    keras.mixed_precision.set_dtype_policy(policy)
    strategy = make_strategy(args.strategy)
    with strategy.scope():
        model = create_model(name, weights=weights, classes=classes, input_shape=(args.image_size,) * 2 + (3,))
    print(f"{name}: {model.count_params():,} parameters, weights {args.weights}; data {image_set.describe()}")
    report = evaluate_model(model, image_set, prep, batch_size=args.batch_size, limit=args.limit,
                            progress=not args.no_progress, command=command,
                            pipeline_batches=args.pipeline_batches, strategy=strategy, jit_compile=args.jit_compile,
                            extra={"model": name, "weights": args.weights, "jit_compile": args.jit_compile,
                                   "strategy": args.strategy, "replicas": strategy.num_replicas_in_sync})
    json_path, md_path = write_report(report, args.output)
    print()
    print(format_text(report))
    print(f"\nwrote {json_path} and {md_path}")
    return report


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    command = shlex.join(["python", "tools/evaluate.py", *(sys.argv[1:] if argv is None else argv)])
    from inception_keras.datasets import DataError  # noqa: PLC0415

    try:
        run(args, command)
    except (DataError, ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
