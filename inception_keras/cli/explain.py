"""Show which pixels drove a prediction: Grad-CAM heat maps over the images, with class and score.

    python tools/explain.py cat.jpg --model inception_v4.tf_in1k                   # explanations/cat.gradcam.png
    python tools/explain.py cat.jpg dog.jpg --model inception_resnet_v2_slim --weights imagenet \\
        --class "tabby" --method gradcam++ --output out/                          # + out/contact_sheet.png
    python tools/explain.py cat.jpg --model inception_v4.tf_in1k --layer Mixed_6h --json
    python tools/explain.py flower.jpg --model runs/flowers/best --class 3        # a fine-tuned run
    python tools/explain.py photos/ "more/*.png" list.txt --model inception_v4.tf_in1k # folders, globs, lists

Each image is decoded and preprocessed as tools/predict.py does (TF-slim's central crop by
default), and the heat map is drawn over that crop: the pixels the model saw, not the whole
file. The PNG shows the crop, the crop under the heat map (the peak ringed), the class name
and its score. With several images a contact sheet of them all is written too. A header line
names the model and its weights, as predict's does, and says when they are random (--weights
none): the PNGs and the contact sheet say so too, since such heat maps show nothing learned.

Images are given as predict takes them: files, folders (searched recursively), globs and list
files (.txt/.lst, one path per line), expanded in the order given, each file once. A file that
cannot be decoded gets an error line and the others go on; an input that names nothing (a
missing file or folder, a glob that matches nothing) stops the tool before any work.

--class is an output index (281), a WordNet synset (n02123045, for ImageNet heads) or a
class name ("tabby", one part of "tabby, tabby cat"); default: each image's top class.
--layer is any layer with a spatial output (model.summary() lists them); default: the last
feature map (Mixed_7d, Conv2d_7b_1x1, the last C block). Gradients need the tensorflow (the
default), jax or torch backend (KERAS_BACKEND).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import options

METHODS = ("gradcam", "gradcam++")
DEFAULT_OUTPUT = "explanations"
CONTACT_SHEET = "contact_sheet.png"


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("explain", __doc__)
    parser.add_argument("images", nargs="+",
                        help="image files (JPEG, PNG, ...), folders (recursive), globs or list files (.txt)")
    options.add_model_options(parser)
    options.add_max_pixels(options.add_preprocessing_options(parser))
    group = parser.add_argument_group("explanation")
    group.add_argument("--method", default="gradcam", choices=METHODS, help="gradcam (default) or gradcam++")
    group.add_argument("--class", dest="target_class", metavar="CLASS",
                       help="the class to explain: index, synset or name (default: each image's top class)")
    group.add_argument("--layer", help="the layer to explain (default: the last feature map)")
    group.add_argument("--alpha", type=options.fraction, default=0.5, help="the heat map's opacity (default 0.5)")
    group.add_argument("--output", default=DEFAULT_OUTPUT,
                       help=f"folder for the PNGs (default {DEFAULT_OUTPUT}/): IMAGE.METHOD.png per image and "
                            f"{CONTACT_SHEET} for several")
    out = options.add_output_options(parser)
    out.add_argument("--top", type=int, default=5, help="top classes listed per image in --json (default 5)")
    return parser


def _synsets(clf, classes: int):
    """The synset of each output, where the labels have them (ImageNet heads)."""
    from ..explain.classes import imagenet_synsets  # noqa: PLC0415
    from ..data.labels import default_class_names  # noqa: PLC0415

    labels = clf.labels
    if labels and any(label.get("synset") for label in labels):
        synsets = [None] * classes
        for label in labels:
            if 0 <= label.get("id", -1) < classes:
                synsets[label["id"]] = label.get("synset")
        return synsets
    return imagenet_synsets(classes) if clf.class_names == default_class_names(classes) else None


def expand_inputs(specs) -> list[str]:
    """The image files of ``specs`` in the order given, each file once (the first spelling of
    it is kept). An image file stays as it is (an unreadable one gets its error line later); a
    folder, a glob or a list file is expanded as predict expands it
    (:func:`inception_keras.inference.inputs.resolve`: sorted within itself), and an input that
    names nothing is an error. TFRecord shards are refused: explain draws image files."""
    from ..inference.inputs import LIST_SUFFIXES, is_tfrecord, resolve  # noqa: PLC0415

    out: dict[str, str] = {}
    for spec in map(os.fspath, specs):
        if os.path.isfile(spec) and not spec.lower().endswith(LIST_SUFFIXES):
            files, records = [spec], [spec] if is_tfrecord(spec) else []
        else:
            sources = resolve([spec])
            files, records = sources.files, sources.tfrecords
        if records:
            raise ValueError(f"{spec}: TFRecord shards ({os.path.basename(records[0])}) hold no image files to "
                             f"draw; give explain image files, folders, globs or list files")
        for path in files:
            out.setdefault(os.path.realpath(path), path)
    return list(out.values())


def _png_names(paths, method: str) -> list[str]:
    """``cat.gradcam.png`` per image; a repeated file name gets ``-2``, ``-3``..."""
    seen: dict[str, int] = {}
    names = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0] or "image"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(f"{stem}{'' if seen[stem] == 1 else f'-{seen[stem]}'}.{method}.png")
    return names


def weights_words(weights: str) -> str:
    """The weights as the header names them, as predict's header does (``weights imagenet``),
    saying so when they are random (``--weights none``): a heat map of an untrained model shows
    no evidence the model learned, and its PNGs must not pass for one that did."""
    if weights == "random":  # a graph without --weights (a preset has its own)
        return "weights none: random, untrained"
    return f"weights {weights}"


def _save_png(picture, path: str) -> None:
    from ..utils.fileio import atomic_save  # noqa: PLC0415

    atomic_save(lambda tmp: picture.save(tmp, format="PNG"), path, ".png")


def _result(path: str, target: str, e, names, top: int) -> dict:
    """One image's JSON result: its class, the top classes and the heat map's peak."""
    import numpy as np  # noqa: PLC0415

    order = np.argsort(-e.outputs, kind="stable")[:top]
    height, width = e.heatmap.shape
    return {
        "image": path, "png": target, "class": {"index": e.class_index, "name": names[e.class_index],
                                                "score": e.score},
        "top": [{"index": int(j), "name": names[j], "score": float(e.outputs[j])} for j in order],
        "peak": None if e.peak is None else {
            "x": e.peak[0], "y": e.peak[1], "x_fraction": (e.peak[0] + 0.5) / width,
            "y_fraction": (e.peak[1] + 0.5) / height},
    }


def refuse_exported(args) -> None:
    """ValueError for an exported --model: Grad-CAM needs the gradients of the Keras graph."""
    from ..runtimes import exported_format  # noqa: PLC0415

    fmt = exported_format(args.model)
    if fmt is None:
        return
    what = {"keras": "a .keras file (tools run it as an exported model, without its gradients)",
            "savedmodel": "an exported SavedModel"}.get(fmt, f"an exported {fmt} model")
    raise ValueError(f"--model {args.model} is {what}: explain needs the gradients of the Keras model inside the "
                     "graph, which an exported file does not give; give the preset or graph it was exported from "
                     "(e.g. --model inception_v4.tf_in1k, or --model inception_v4 --weights FILE.weights.h5)")


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    import keras  # noqa: PLC0415

    from .. import explain  # noqa: PLC0415
    from ..data.preprocessing import load_for_eval  # noqa: PLC0415
    from ..utils.fileio import check_output_folder  # noqa: PLC0415

    try:
        refuse_exported(args)
        explain.check_backend()
        check_output_folder(args.output, "the PNGs")
        args.images = expand_inputs(args.images)
        if args.top < 1:
            raise ValueError(f"--top must be at least 1, got {args.top}")
        clf = options.load_model(args)
        model, names, prep = clf.network, clf.class_names, clf.preparation
        layer = args.layer or explain.default_layer(model)
        explain.spatial_layer(model, layer)
        classes = int(model.outputs[0].shape[-1])
        wanted = None
        if args.target_class is not None:
            wanted = explain.resolve_class(args.target_class, names, _synsets(clf, classes))
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)
    untrained = options.weights_label(clf) == "random"  # a graph without --weights
    options.info(args, f"{options.model_name(clf)} ({weights_words(options.weights_label(clf))}): {len(args.images)} images, "
                       f"{args.method} at {layer}")
    results, pictures, failed = [], [], 0
    pngs = _png_names(args.images, args.method)
    bar = keras.utils.Progbar(len(args.images), unit_name="image") if len(args.images) > 1 and not args.no_progress \
        else None
    with options.progress_to_stderr():
        for i, (path, png) in enumerate(zip(args.images, pngs)):
            if bar is not None and i:
                bar.update(i)
            try:
                with options.max_pixels(args):
                    x = load_for_eval(path, prep)
            except ValueError as e:
                print(f"error: {e}", file=sys.stderr)
                results.append({"image": path, "error": str(e)})
                failed += 1
                continue
            [e] = explain.gradcam(model, x[None], class_index=wanted, layer=layer, method=args.method)
            title = f"{names[e.class_index]}  {100 * e.score:.1f}%"
            note = f"{os.path.basename(path)}: {e.method} at {e.layer}, class {e.class_index}" + \
                (", random weights" if untrained else "")
            picture = explain.render(x, e, title, note, alpha=args.alpha)
            target = os.path.join(args.output, png)
            _save_png(picture, target)
            pictures.append(picture)
            results.append(_result(path, target, e, names, min(args.top, classes)))
        if bar is not None:
            bar.update(len(args.images))
    sheet = None
    if len(pictures) > 1:
        sheet = os.path.join(args.output, CONTACT_SHEET)
        title = f"{options.model_name(clf)}: {args.method} at {layer}" + (" (random weights)" if untrained else "")
        _save_png(explain.contact_sheet(pictures, title=title), sheet)
    lines = []
    for r in results:
        if "error" not in r:
            c, p = r["class"], r["peak"]
            where = (f"peak at x={p['x']} y={p['y']} of the {prep.image_size}x{prep.image_size} crop" if p
                     else "empty heat map")
            lines.append(f"{r['image']}: {c['name']} ({100 * c['score']:.2f}%), {where} -> {r['png']}")
    if sheet:
        lines.append(f"contact sheet -> {sheet}")
    data = {"model": options.model_name(clf), "weights": options.weights_label(clf), "method": args.method, "layer": layer,
            "input_size": prep.image_size, "contact_sheet": sheet, "results": results}
    options.emit(args, data, "\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
