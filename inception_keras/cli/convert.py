"""Convert a TF-slim checkpoint into Keras weights for our models.

    python tools/convert_slim_checkpoint.py --checkpoint inception_v4.ckpt --model inception_v4 --output inception_v4.weights.h5
    python tools/convert_slim_checkpoint.py --checkpoint inception_resnet_v2_2016_08_30.tar.gz \\
        --model inception_resnet_v2 --output irv2.weights.h5 --keep-background
    python tools/convert_slim_checkpoint.py --checkpoint ens_adv_inception_resnet_v2.ckpt --model inception_resnet_v2 \\
        --output ens_adv.weights.h5 --aux --ema --save-model

--checkpoint takes a V1 or V2 prefix, a directory holding one, or a release .tar.gz.
The output appears only when it is complete and has been read back and checked. It replaces an
earlier conversion's weights, report and .keras (a run without --save-model removes the .keras
of the output's name that the conversion it replaces wrote); any other existing file is refused
unless --overwrite.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import options
from .conversion import ERRORS, MODELS, add_output_arguments, check_output, print_summary, save_converted


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("convert_slim_checkpoint", __doc__)
    src = parser.add_argument_group("source")
    src.add_argument("--checkpoint", required=True, help="checkpoint prefix (V1/V2), directory or .tar.gz")
    src.add_argument("--model", required=True, choices=sorted(MODELS),
                     help="graph of the checkpoint (inception_resnet_v2 = TF-slim's variant)")
    src.add_argument("--ema", action="store_true", help="use ExponentialMovingAverage shadows where present")
    out = add_output_arguments(parser)
    options.add_verbose(out)
    out.add_argument("--keep-background", action="store_true",
                     help="keep slim's 1001 outputs (index 0 = background) instead of 1000")
    out.add_argument("--aux", action="store_true", help="also port the auxiliary head (aux_logits=True)")
    return parser


def convert(checkpoint: str, model_name: str, output: str, *, keep_background=False, aux=False, ema=False,
            save_model: str | None = None, verify=True, overwrite: bool = False) -> dict:
    """Library entry point of the tool; returns the summary it prints."""
    from .. import create_model  # noqa: PLC0415
    from ..weights.convert import load_slim_weights, open_slim_checkpoint  # noqa: PLC0415

    check_output(output, save_model, overwrite=overwrite, inputs=[checkpoint])
    start = time.perf_counter()
    arch = MODELS[model_name]
    kwargs = dict(classes=1001 if keep_background else 1000, aux_logits=aux)
    with open_slim_checkpoint(checkpoint) as ckpt:  # a bad checkpoint fails before the (slow) build
        model = create_model(arch, **kwargs)
        report = load_slim_weights(model, ckpt, arch=arch, drop_background=not keep_background, ema=ema)
    summary = {
        "checkpoint": os.fspath(checkpoint),
        "model": arch,
        "classes": kwargs["classes"],
        "aux_logits": aux,
        "ema": ema,
    }
    return save_converted(model, output, summary, report, start, arch=arch, build_kwargs=kwargs, verify=verify,
                          save_model=save_model)


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    try:
        summary = convert(args.checkpoint, args.model, args.output, keep_background=args.keep_background,
                          aux=args.aux, ema=args.ema, save_model=args.save_model, verify=not args.no_verify,
                          overwrite=args.overwrite)
    except ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print_summary(summary, [
        ("checkpoint", summary["checkpoint"]),
        ("model", f"{summary['model']} (classes={summary['classes']}, aux={summary['aux_logits']}, ema={summary['ema']})"),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
