"""Evaluate a model's top-1/top-5 accuracy on ImageNet (or any labelled image set).

    python tools/evaluate.py --model inception_v4 --weights imagenet --data /data/imagenet/val \\
        --batch-size 128 --output reports/v4
    python tools/evaluate.py --model inception_resnet_v2_slim --weights imagenet \\
        --data /data/imagenet/val_flat --labels LOC_val_solution.csv --limit 5000
    python tools/evaluate.py --model inception_v4 --weights imagenet --data '/data/tfrecords/validation-*' \\
        --mixed-precision --jit-compile --strategy mirrored
    python tools/evaluate.py --model runs/flowers/best --data /data/flowers/val   # a fine-tuned run's preset
    python tools/evaluate.py --model inception_v4 --weights imagenet --data /data/imagenet/val_flat \
        --labels ILSVRC2012_validation_ground_truth.txt --exclude ILSVRC2015_clsloc_validation_blacklist.txt
    python tools/evaluate.py --model inception_v4 --weights imagenet --data /data/imagenet/val --crops 144

--data is a folder with one sub-folder per class (ImageNet synset folders get their ImageNet
labels), a folder of images with a label file (--labels, or LOC_val_solution.csv / labels.txt
inside it), or TF-slim/TPU TFRecord shards (a folder, a file or a glob). A graph's number of
classes follows the data (+1 for a slim background class with --classes); a preset (--model
runs/x/best, a named preset, hf://...) brings its classes, and the data's classes are matched
to them by name. The devkit's ILSVRC2012_validation_ground_truth.txt (one ILSVRC2012_ID per
line) is read as a label file. --crops picks the protocol (1, flip, 10, 144: see
inception_keras/crops.py); crops are averaged as softmax probabilities. Writes report.json,
report.md and predictions.csv (each image's top-5) into --output.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import options
from ..data.crops import PROTOCOLS

STRATEGIES = ("none", "mirrored")
OUTPUT_FILES = ("report.json", "report.md", "predictions.csv")


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("evaluate", __doc__)
    options.add_model_options(parser, classes=None, labels=False, input_size=False,
                              classes_help="classifier outputs (default: the number of classes of the data)")
    data = parser.add_argument_group("data")
    data.add_argument("--data", required=True, help="image folder(s), flat folder or TFRecord shards")
    data.add_argument("--labels", help="label file for a flat folder: one 'filename label' line per image, the label "
                                       "last (after a tab, spaces or a comma, so names may hold spaces): a synset, "
                                       "a 0-based ImageNet index (0..999) or a class name; or LOC_val_solution.csv; "
                                       "or the devkit's ILSVRC2012_validation_ground_truth.txt (one ILSVRC2012_ID a "
                                       "line)")
    data.add_argument("--exclude", metavar="FILE",
                      help="leave out the images FILE lists, one a line: a 1-based validation image number (the "
                           "devkit's ILSVRC2015_clsloc_validation_blacklist.txt) or a file name or path (matched "
                           "without folders and extension)")
    data.add_argument("--split", help="TFRecord shard prefix when a folder holds several (default: validation)")
    data.add_argument("--limit", type=int, help="evaluate only the first N images")
    options.add_max_pixels(data)
    options.add_batch_size(data, 64, "global batch size (default 64)")
    pre = options.add_preprocessing_options(parser)
    options.add_input_size(pre, default=None)
    pre.add_argument("--crops", choices=tuple(PROTOCOLS), default="1",
                     help="crops per image, averaged as softmax probabilities: 1 (the preprocessing's central "
                          "crop, default), flip (+ its mirror), 10 (4 corners + centre of the image resized to "
                          "input/crop-fraction, and their mirrors), 144 (GoogLeNet: 4 scales x 3 squares x 6 crops "
                          "x mirror)")
    run = options.add_run_options(parser, strategies=STRATEGIES)
    run.add_argument("--pipeline-batches", type=int, default=20,
                     help="batches for the pipeline-only throughput figure (0: skip)")
    out = options.add_output_options(parser, json_help="--json alone prints the report as JSON instead of the "
                                                       "table; --json PATH.json also writes it to PATH")
    out.add_argument("--output", default="reports/evaluation",
                     help="folder for report.json, report.md and predictions.csv")
    return parser


def make_strategy(name: str):
    import tensorflow as tf  # noqa: PLC0415

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _same_vocabulary(info, image_set) -> bool:
    """The data's classes are the model's as they are (ImageNet, with or without background)."""
    keys = [c.get("synset") or c["name"] for c in info.labels]
    return keys == list(image_set.class_names)


def check_output(folder: str) -> None:
    """OSError unless report.json, report.md and predictions.csv can be written into ``folder``
    (created if missing); creates nothing."""
    from ..utils.fileio import check_output_folder  # noqa: PLC0415

    folder = os.path.abspath(folder)
    for name in OUTPUT_FILES:  # (never true when the folder is a file)
        if os.path.isdir(os.path.join(folder, name)):
            raise OSError(f"--output {folder}: {name} is a folder; give another --output")
    check_output_folder(folder, "report.json, report.md and predictions.csv")


def run(args, command: str | None = None) -> dict:
    """Library entry point: evaluate as the tool does and return the report (also written)."""
    import keras  # noqa: PLC0415

    from ..data.datasets import align_classes, exclude_images, find_image_set  # noqa: PLC0415
    from ..evaluation import evaluate_model, format_text, write_predictions, write_report  # noqa: PLC0415
    from ..profile import mixed_precision_policy  # noqa: PLC0415

    check_output(args.output)  # before the model is built and the images are read
    options.check_preset_options(args)  # before the data is listed
    image_set = find_image_set(args.data, args.labels, split=args.split)
    if args.exclude:
        image_set = exclude_images(image_set, args.exclude)
    jit = options.jit_value(args.jit_compile) is True  # (auto: the plain forward pass)
    policy = mixed_precision_policy(args.mixed_precision)
    keras.mixed_precision.set_dtype_policy(policy)
    strategy = make_strategy(args.strategy)
    with strategy.scope():
        loaded = options.load_model(args, classes_default=image_set.num_classes)
    model, name, prep = loaded.model, loaded.name, loaded.preprocessing
    info = loaded.info
    if not options.is_graph(args) and info.labels and not _same_vocabulary(info, image_set):
        # A fine-tuned model: the data's classes are matched to the model's by name.
        keys = [c.get("synset") or c["name"] for c in info.labels]
        image_set = align_classes(image_set, keys, [c["name"] for c in info.labels], "evaluation", "the model's")
    options.info(args, f"{name}: {model.count_params():,} parameters, weights {loaded.weights}; "
                       f"data {image_set.describe()}")
    with options.progress_to_stderr():
        report, predictions = evaluate_model(
            model, image_set, prep, batch_size=args.batch_size, limit=args.limit, progress=not args.no_progress,
            command=command, pipeline_batches=args.pipeline_batches, strategy=strategy, jit_compile=jit,
            max_pixels=args.max_pixels, crops=args.crops, return_predictions=True,
            extra={"model": name, "weights": loaded.weights, "jit_compile": jit, "strategy": args.strategy,
                   "replicas": strategy.num_replicas_in_sync})
    options.emit(args, report, format_text(report))  # the metrics first, whatever happens to the files
    json_path, md_path = write_report(report, args.output)
    csv_path = write_predictions(predictions, args.output)
    options.info(args, f"\nwrote {json_path}, {md_path} and {csv_path}")
    return report


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    command = options.command_line("evaluate", sys.argv[1:] if argv is None else argv)
    from ..data.datasets import DataError  # noqa: PLC0415

    try:
        run(args, command)
    except (DataError, ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
