"""Draw the README's Grad-CAM example: a small network trained to find a bright square in the
top-left corner, explained on six images (:mod:`inception_keras.explain.bright_square`)."""

from __future__ import annotations

import argparse
import os
import sys

from ..utils.fileio import atomic_save
from . import options

DEFAULT_OUTPUT = os.path.join("docs", "images", "gradcam_bright_square.png")


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("gradcam_bright_square", __doc__)
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help=f"the contact sheet PNG (default {DEFAULT_OUTPUT})")
    parser.add_argument("--method", default="gradcam", choices=("gradcam", "gradcam++"),
                        help="gradcam (default) or gradcam++")
    parser.add_argument("--seed", type=int, default=0, help="training and image seed (default 0)")
    return parser


def main(argv=None) -> int:
    """Train the model, explain six test images and write one contact sheet."""
    args = options.parse_args(build_parser(), argv)  # quiets TensorFlow before Keras loads it
    from ..explain import contact_sheet, gradcam, render  # noqa: PLC0415 - Keras loads after the quiet start
    from ..explain.bright_square import CLASS_NAMES, LAYER, make_images, train  # noqa: PLC0415

    model = train(seed=args.seed)
    x, y, _ = make_images(6, seed=args.seed + 1, labels=[1, 1, 1, 1, 0, 0])
    explanations = gradcam(model, x, layer=LAYER, method=args.method)
    pictures = []
    for i, (image, e) in enumerate(zip(x, explanations)):
        title = f"{CLASS_NAMES[e.class_index]}  {100 * e.score:.1f}%"
        note = f"image {i + 1} (truth: {CLASS_NAMES[y[i]]}), {e.method} at {e.layer}"
        pictures.append(render(image, e, title, note, min_side=160))
    sheet = contact_sheet(pictures, columns=2, title=f"{e.method}: a bright square in the top-left corner is class 1")
    folder = os.path.dirname(args.output)
    if folder:
        os.makedirs(folder, exist_ok=True)
    atomic_save(lambda tmp: sheet.save(tmp, format="PNG"), args.output, ".png")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
