"""Classify images, and extract embeddings, from a few files to millions of images.

    python tools/predict.py cat.jpg dog.png --model inception_v4 --weights imagenet --top 5
    python tools/predict.py cat.jpg --model inception_v4.tf_in1k --json
    python tools/predict.py flower.jpg --model runs/flowers/best       # a fine-tuned run: its classes and size
    python tools/predict.py photos/ --model inception_v4.tf_in1k --output preds.parquet --embeddings emb.npy
    python tools/predict.py '/data/val/*.JPEG' list.txt --output preds.csv --batch-size 128 --strategy mirrored
    python tools/predict.py photos/ --output out/preds-3.parquet --shard 3/8          # one of 8 machines
    python tools/predict.py --merge 'out/preds-*.parquet' --output preds.parquet      # ... then merge them
    python tools/predict.py photos/ --output preds.parquet --engine ray [--ray-address auto]
    python tools/predict.py cat.jpg --model exported/v4.onnx --threads 2        # an exported model
    python tools/predict.py photos/ --model exported/v4_int8.tflite --output preds.csv

Inputs are image files, folders (recursive), globs, list files (.txt/.lst, one path per line)
and TFRecord shards in the TF-slim layout (image/encoded, optionally image/filename), read by a
tf.data pipeline (parallel decode, batching, prefetch). --model is a graph name (with --weights)
or a preset (a named one, a preset folder such as a training run's best/, or an hf:// URI),
which brings its class names, input size and preprocessing, or an exported model (an .onnx
file run by ONNX Runtime with --provider, a .tflite file run by LiteRT, a SavedModel folder run
by TensorFlow, a .keras file) whose class names and preprocessing come from the metadata
export embeds (--classes/--labels/--input-size for one without it); --embeddings, --layer and
--strategy need a Keras model. Images get TF-slim's evaluation
preprocessing by default, decoded as tools/evaluate.py decodes them; an image that cannot be
read gets a row with the reason in its error column and the run goes on.

Without --output the top classes are printed (or JSON with --json); exit status 1 when an image
could not be read. With --output (.csv, .jsonl or .parquet) one row per image is written:
path, top-k class ids, names, synsets (ImageNet heads) and probabilities, error. --embeddings
writes the pooled features (the classifier's input, or --layer NAME globally average-pooled)
to a .npy (with an .index.csv of paths) or .parquet file; --embeddings alone puts them into the
--output Parquet/JSONL file. The rows are written in chunks (--chunk-size) into OUTPUT.parts/
as they are finished: rerun the same command after a crash and only the missing chunks are
done, giving the same bytes as an uninterrupted run. --shard I/N does the I-th of N contiguous
slices of the sorted inputs; --merge joins the N outputs into the unsharded one. One run at a
time writes an output (OUTPUT.lock); an existing file that predict did not write is replaced
only with --overwrite.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys

from . import options

INTO_OUTPUT = "(into --output)"


def _shard(text: str) -> tuple[int, int]:
    from ..inference.inputs import parse_shard  # noqa: PLC0415

    try:
        return parse_shard(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(f"--shard {text!r}: ").removeprefix(
            f"--shard {text}: ")) from None


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("predict", __doc__)
    parser.add_argument("images", nargs="*", metavar="INPUT",
                        help="image files, folders, globs, list files (.txt) or TFRecord shards")
    options.add_model_options(parser, exported=True)
    options.add_runtime_options(parser, runtime=True)
    options.add_max_pixels(options.add_preprocessing_options(parser))
    batch = parser.add_argument_group("batch inference")
    options.add_batch_size(batch, 32)
    batch.add_argument("--output", metavar="FILE", help="write one row per image to FILE (.csv, .jsonl or .parquet) "
                                                        "instead of printing")
    batch.add_argument("--embeddings", nargs="?", const=INTO_OUTPUT, metavar="FILE",
                       help="write pooled features to FILE.npy (+ FILE.index.csv) or FILE.parquet; alone: as an "
                            "'embedding' column of the --output Parquet/JSONL file")
    batch.add_argument("--layer", metavar="NAME", help="the embeddings are this layer's output, globally "
                                                       "average-pooled (default: the classifier's input)")
    batch.add_argument("--chunk-size", type=options.positive, default=2048,
                       help="images per chunk, the unit a rerun skips when it is done (default 2048)")
    batch.add_argument("--shard", type=_shard, metavar="I/N",
                       help="do only shard I (0-based) of N: a contiguous slice of the sorted inputs")
    batch.add_argument("--merge", nargs="+", metavar="FILE",
                       help="merge the --output files of the N shards (globs are expanded) into --output / "
                            "--embeddings, instead of predicting")
    batch.add_argument("--overwrite", action="store_true",
                       help="replace an existing --output / --embeddings file that predict did not write (a file "
                            "it wrote, with its .meta.json next to it, is replaced without asking; an input never)")
    batch.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: tf.data on this machine (default); ray: Ray Data actors, here or on a cluster")
    batch.add_argument("--ray-address", metavar="ADDRESS", help="join this Ray cluster ('auto': the local one) "
                                                                "instead of starting Ray here")
    batch.add_argument("--ray-workers", type=options.positive, metavar="N",
                       help="model actors (default: one per GPU of the cluster, or 1 without GPUs)")
    options.add_run_options(parser)
    out = options.add_output_options(parser)
    out.add_argument("--top", type=int, help="classes per image (default 5, or all when fewer)")
    return parser


def predictor_from_args(args: dict, strategy=None):
    """The :class:`inception_keras.inference.Predictor` of the parsed arguments (a dict: a Ray
    worker gets it pickled) and the loaded model's description."""
    from ..inference import Predictor  # noqa: PLC0415

    ns = argparse.Namespace(**args)
    clf = options.load_model(ns)
    top = min(5, len(clf.class_names)) if ns.top is None else ns.top
    predictor = Predictor(clf.network, clf.class_names, clf.preparation, top=top,
                          embeddings=ns.embeddings is not None, layer=ns.layer, strategy=strategy,
                          jit_compile=options.jit_value(ns.jit_compile) is True, max_pixels=ns.max_pixels,
                          name=options.model_name(clf), weights=options.weights_label(clf))
    return predictor, clf


def _worker_predictor(args: dict):
    import keras  # noqa: PLC0415

    from ..profile import mixed_precision_policy  # noqa: PLC0415

    keras.mixed_precision.set_dtype_policy(mixed_precision_policy(args["mixed_precision"]))
    return predictor_from_args(args)[0]


def _outputs(args):
    from ..inference import Outputs  # noqa: PLC0415

    into = args.embeddings == INTO_OUTPUT or (args.embeddings and args.output and args.embeddings == args.output)
    return Outputs(args.output, None if into else args.embeddings, bool(into))


def _table(result, names_width=None) -> tuple[list, str]:
    rows = result.table
    k = sum(1 for name in rows if name.endswith("_prob"))
    results, lines = [], []
    for i, path in enumerate(rows["path"]):
        image = path if "record" not in rows or rows["record"][i] is None else \
            f"{path}#{rows['record'][i]}" + (f" ({rows['filename'][i]})" if rows["filename"][i] else "")
        if rows["error"][i]:
            results.append({"image": image, "error": f"{image}: {rows['error'][i]}"})
            continue
        top = [{"index": rows[f"top{j}_id"][i], "name": rows[f"top{j}_name"][i],
                "probability": rows[f"top{j}_prob"][i]} for j in range(1, k + 1)]
        results.append({"image": image, "top": top})
        width = max(len(t["name"]) for t in top)
        lines.append(image)
        lines += [f"  {t['name']:<{width}}  ({100 * t['probability']:.2f}%)" for t in top]
    return results, "\n".join(lines)


def _merge(args) -> int:
    from ..inference import merge  # noqa: PLC0415

    if args.images:
        raise ValueError(f"--merge takes no images (got {args.images[0]!r} ...): it joins the shard outputs given "
                         f"to --merge")
    embeddings = None if args.embeddings == INTO_OUTPUT else args.embeddings
    written = merge(args.merge, args.output, embeddings, overwrite=args.overwrite)
    options.emit(args, {"merged": args.merge, "written": written}, "\n".join(f"wrote {p}" for p in written))
    return 0


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    try:
        if args.merge:
            return _merge(args)
        return _predict(args)
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _predict(args) -> int:
    from ..utils.fileio import output_lock  # noqa: PLC0415

    if not args.images:
        raise ValueError("give images: files, folders, globs, list files (.txt) or TFRecord shards "
                         "(or --merge FILE... to merge shard outputs)")
    if args.top is not None and (args.top < 1 or (args.classes is not None and args.top > args.classes)):
        raise ValueError(f"--top must be between 1 and the number of classes, got {args.top}")
    outputs = _outputs(args)
    if args.output is None and args.embeddings is not None and outputs.embeddings is None:
        raise ValueError("--embeddings without a file name puts them into --output: give --output FILE.parquet, "
                         "or --embeddings FILE.npy")
    if args.shard and not outputs.main:
        raise ValueError("--shard writes a file to merge: give --output FILE (or --embeddings FILE)")
    outputs.check()  # before the inputs are listed and the model built: nothing is written on a bad name
    # One run at a time per output, taken before the model is built: a second run stops at once.
    lock = output_lock(outputs.main, "run", "wait for it to finish, or give another --output") if outputs.main \
        else contextlib.nullcontext()
    with lock:
        return _predict_locked(args, outputs)


def _predict_locked(args, outputs) -> int:
    import keras  # noqa: PLC0415

    from ..inference import resolve, run  # noqa: PLC0415
    from ..inference.run import check_outputs  # noqa: PLC0415
    from ..profile import mixed_precision_policy  # noqa: PLC0415

    sources = resolve(args.images)
    if args.shard:
        sources = sources.shard_of(*args.shard)
    if outputs.main:
        check_outputs(outputs.predictions, outputs.embeddings, [*sources.files, *sources.tfrecords], args.overwrite)
    ray_options = None
    if args.engine == "ray":
        from ..inference.ray_engine import import_ray  # noqa: PLC0415

        import_ray()
        if options.is_graph(args) and options.weights_value(args.weights or "imagenet") is None:
            raise ValueError("--engine ray with --weights none: each worker would build other random weights; "
                             "save them once (model.save_weights) and pass the file to --weights")
        ray_options = {"factory": functools.partial(_worker_predictor, vars(args)), "address": args.ray_address,
                       "workers": args.ray_workers}
    keras.mixed_precision.set_dtype_policy(mixed_precision_policy(args.mixed_precision))
    strategy = _strategy(args.strategy)
    with strategy.scope():
        predictor, clf = predictor_from_args(vars(args), strategy)
    if outputs.main:
        options.info(args, f"{options.model_name(clf)} (weights {options.weights_label(clf)}): {len(sources)} images from "
                           f"{len(sources.files)} files and {len(sources.tfrecords)} TFRecord shards"
                           + (f", shard {args.shard[0]}/{args.shard[1]}" if args.shard else ""))
    with options.progress_to_stderr():
        result = run(predictor, sources, outputs, chunk_size=args.chunk_size, batch_size=args.batch_size,
                     progress=not args.no_progress and outputs.main is not None, engine=args.engine,
                     ray_options=ray_options, on_resume=lambda message: options.info(args, message),
                     overwrite=args.overwrite, lock=False)
    if outputs.main is None:
        results, table = _table(result)
        for r in results:
            if "error" in r:
                print(f"error: {r['error']}", file=sys.stderr)
        options.emit(args, {"model": options.model_name(clf), "weights": options.weights_label(clf), "results": results}, table)
        return 1 if result.unreadable else 0
    summary = {"model": options.model_name(clf), "weights": options.weights_label(clf), **result.to_json()}
    speed = f"{result.images_per_second} images/s" if result.images_per_second else "no images predicted"
    text = [f"{result.rows} images, {result.unreadable} unreadable"
            + (" (see the error column)" if result.unreadable and outputs.predictions else "")
            + f"; {result.images} predicted in {result.seconds:.1f} s, {speed}"
            + (f"; {result.skipped_chunks} of {result.chunks} chunks were done before" if result.skipped_chunks
               else "")]
    text += [f"wrote {p}" for p in result.written]
    options.emit(args, summary, "\n".join(text))
    return 0


def _strategy(name: str):
    import tensorflow as tf  # noqa: PLC0415

    return tf.distribute.MirroredStrategy() if name == "mirrored" else tf.distribute.get_strategy()


if __name__ == "__main__":
    raise SystemExit(main())
