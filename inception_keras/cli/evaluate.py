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
    python tools/evaluate.py --model exported/v4.onnx --data /data/imagenet/val --threads 2   # an exported model
    python tools/evaluate.py --model exported/v4_int8.onnx --reference inception_v4.tf_in1k --data /data/imagenet/val

--data is a folder with one sub-folder per class (ImageNet synset folders get their ImageNet
labels), a folder of images with a label file (--labels, or LOC_val_solution.csv / labels.txt
inside it), or TF-slim/TPU TFRecord shards (a folder, a file or a glob). A graph's number of
classes follows the data (+1 for a slim background class with --classes); a preset (--model
runs/x/best, a named preset, hf://...) brings its classes, and the data's classes are matched
to them by name. The devkit's ILSVRC2012_validation_ground_truth.txt (one ILSVRC2012_ID per
line) is read as a label file. --crops picks the protocol (1, flip, 10, 144: see
inception_keras/crops.py); crops are averaged as softmax probabilities. Writes report.json,
report.md and predictions.csv (each image's top-5) into --output.

--model may also be an exported model: an .onnx file (ONNX Runtime, --provider cpu|cuda|tensorrt,
--threads), a .tflite file (LiteRT, --threads; int8 input/output quantization applied), a
SavedModel folder (TensorFlow) or a .keras file; its class names and preprocessing come from
the metadata export embeds. --reference MODEL (a graph name with --weights' meaning taken from
--reference-weights, a preset or another exported model, with the same classes) runs on the same
batches: the report adds top-1 agreement, top-5 overlap, the largest and mean probability
differences, and the change of each class's top-1 accuracy, most-changed classes first.
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
    model = options.add_model_options(parser, classes=None, labels=False, input_size=False, exported=True,
                                      classes_help="classifier outputs (default: the number of classes of the data)")
    model.add_argument("--reference", metavar="MODEL",
                       help="compare with MODEL on the same images: a preset, an exported file, or a graph name with "
                            "--reference-weights; it must have the model's classes")
    model.add_argument("--reference-weights", metavar="WEIGHTS",
                       help="weights of a graph-name --reference (default imagenet), as --weights")
    options.add_runtime_options(parser, runtime=True)
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


def _same_vocabulary(keys, image_set) -> bool:
    """The data's classes are the model's as they are (ImageNet, with or without background)."""
    keys = list(keys)
    if len(keys) == image_set.num_classes + 1 and keys[0] == "background":
        keys = keys[1:]
    return keys in (list(image_set.class_names), list(image_set.display_names))


def _model_keys(clf) -> list[str] | None:
    """The class keys the data is matched by: the classifier's synsets or names (None: no labels,
    or numbered names, taken in the data's order)."""
    rows = clf.labels
    if not rows or [r["name"] for r in rows] == [f"class {i}" for i in range(len(rows))]:
        return None
    return [r.get("synset") or r["name"] for r in rows]


def _match_classes(args, clf, image_set):
    """The data with its labels renumbered to the model's classes (by name) when they differ
    (a graph's classes are the data's, in its order)."""
    from ..data.datasets import align_classes  # noqa: PLC0415

    keys = None if options.is_graph(args) else _model_keys(clf)
    if keys is None or _same_vocabulary(keys, image_set):
        return image_set
    # A fine-tuned or exported model: the data's classes are matched to the model's by name.
    return align_classes(image_set, keys, [r["name"] for r in clf.labels], "evaluation", "the model's")


def _load_reference(args, loaded, image_set):
    """The ``--reference`` classifier, checked against the evaluated one: the same
    number of classes and the same input size."""
    from ..runtimes import MissingMetadataError  # noqa: PLC0415

    ref_args = argparse.Namespace(model=args.reference, weights=args.reference_weights, variant=None, classes=None,
                                  input_size=None, preprocessing=None, crop_fraction=None, strategy="none",
                                  mixed_precision=None, provider=args.provider, threads=args.threads)
    if options.is_graph(ref_args):
        ref_args.classes = _classes_of(loaded)
        ref_args.input_size = loaded.preparation.image_size
    elif args.reference_weights is not None:
        raise ValueError(f"--reference-weights is for a graph-name --reference; {args.reference} brings its own")
    options.check_preset_options(ref_args)
    try:
        reference = options.load_model(ref_args, classes_default=image_set.num_classes)
    except MissingMetadataError:  # an exported reference without metadata: its graph's classes, the model's size
        ref_args.input_size = loaded.preparation.image_size
        reference = options.load_model(ref_args, classes_default=image_set.num_classes)
    mine, theirs = _classes_of(loaded), _classes_of(reference)
    if mine != theirs:
        raise ValueError(f"--reference {args.reference} has {theirs} classes but --model {args.model} has {mine}: "
                         "compare a model with its own source (the preset or file it was exported from)")
    if reference.preparation.image_size != loaded.preparation.image_size:
        raise ValueError(f"--reference {args.reference} takes {reference.preparation.image_size}x"
                         f"{reference.preparation.image_size} images but --model {args.model} takes "
                         f"{loaded.preparation.image_size}: both run on the same preprocessed images")
    mine, theirs = loaded.preparation, reference.preparation
    if (mine.name, mine.crop_fraction) != (theirs.name, theirs.crop_fraction):
        options.info(args, f"note: --reference {args.reference} was made for another preprocessing "
                           f"({theirs.describe()}); both models run on the model's ({mine.describe()})")
    return reference


def _classes_of(clf) -> int:
    return clf.num_classes


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

    from ..data.datasets import exclude_images, find_image_set  # noqa: PLC0415
    from ..evaluation import evaluate_model, format_text, write_predictions, write_report  # noqa: PLC0415
    from ..profile import mixed_precision_policy  # noqa: PLC0415

    check_output(args.output)  # before the model is built and the images are read
    options.check_preset_options(args)  # before the data is listed
    image_set = find_image_set(args.data, args.labels, split=args.split)
    if args.exclude:
        image_set = exclude_images(image_set, args.exclude)
    jit = options.jit_value(args.jit_compile) is True  # (auto: the plain forward pass)
    if not options.is_exported_model(args):
        keras.mixed_precision.set_dtype_policy(mixed_precision_policy(args.mixed_precision))
    strategy = make_strategy(args.strategy)
    with strategy.scope():
        loaded = options.load_model(args, classes_default=image_set.num_classes)
    image_set = _match_classes(args, loaded, image_set)
    reference = _load_reference(args, loaded, image_set) if args.reference else None
    runner = getattr(loaded, "runner", None)
    size = f"{runner.file_size:,} bytes, {runner.runtime}" if runner else \
        f"{loaded.network.count_params():,} parameters"
    name, weights = options.model_name(loaded), options.weights_label(loaded)
    options.info(args, f"{name}: {size}, weights {weights}; data {image_set.describe()}")
    extra = {"model": name, "weights": weights, "jit_compile": jit, "strategy": args.strategy,
             "replicas": strategy.num_replicas_in_sync}
    if runner:
        extra["runtime"] = runner.describe()
    with options.progress_to_stderr():
        report, predictions = evaluate_model(
            loaded.network, image_set, loaded.preparation, batch_size=args.batch_size, limit=args.limit,
            progress=not args.no_progress, command=command, pipeline_batches=args.pipeline_batches,
            strategy=strategy, jit_compile=jit, max_pixels=args.max_pixels, crops=args.crops,
            return_predictions=True, extra=extra, reference=reference.network if reference else None)
    if reference is not None:
        report["reference"]["model"] = options.model_name(reference)
        report["reference"]["weights"] = options.weights_label(reference)
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
