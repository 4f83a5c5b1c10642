"""Convert PyTorch weights in timm's layout (timm, pretrainedmodels, fine-tuned descendants) into Keras weights.

    python tools/convert_timm_checkpoint.py --checkpoint model.safetensors --model inception_v4 --output v4.weights.h5
    python tools/convert_timm_checkpoint.py --checkpoint finetuned.pth --model inception_resnet_v2 \\
        --output irv2.weights.h5 --classes 5
    python tools/convert_timm_checkpoint.py --checkpoint output/train/model_best.pth.tar --model inception_v4 \\
        --output v4_ema.weights.h5 --ema

--checkpoint takes .safetensors (read with numpy alone) or .pth / .pth.tar / .pt / .bin (needs
torch): a state dict, one nested under state_dict or model (timm's training checkpoints; with
--ema, state_dict_ema or model_ema), with or without DataParallel's module. prefix.
The classes are the classifier's (--classes checks them). BatchNorm gammas are folded into the
moving variance where every gamma is positive; otherwise the model is built with
batchnorm_scale=True, and the summary says how to build the model that loads the output.
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
    parser = options.make_parser("convert_timm_checkpoint", __doc__)
    src = parser.add_argument_group("source")
    src.add_argument("--checkpoint", required=True, help=".safetensors, .pth, .pth.tar, .pt or .bin file")
    src.add_argument("--model", required=True, choices=sorted(MODELS),
                     help="graph of the weights (inception_resnet_v2 = timm's, which is TF-slim's variant)")
    src.add_argument("--ema", action="store_true",
                     help="use the EMA weights of a training checkpoint (state_dict_ema / model_ema)")
    src.add_argument("--allow-pickle", action="store_true",
                     help="load a whole pickled model (torch.save(model)); runs code from the file: trusted files only")
    src.add_argument("--batchnorm-eps", type=float, metavar="EPS",
                     help="BatchNorm epsilon the weights were trained with (default: read from a pickled model, "
                          "else timm's 0.001)")
    out = add_output_arguments(parser)
    options.add_verbose(out)
    out.add_argument("--classes", type=int, help="expected number of classes; an error if the classifier differs")
    out.add_argument("--batchnorm-scale", action="store_true",
                     help="keep gamma (batchnorm_scale=True) even where it could be folded")
    return parser


def convert(checkpoint: str, model_name: str, output: str, *, classes: int | None = None, ema=False,
            allow_pickle=False, batchnorm_eps: float | None = None, batchnorm_scale=False,
            save_model: str | None = None, verify=True, overwrite: bool = False) -> dict:
    """Library entry point of the tool; returns the summary it prints."""
    from .. import create_model  # noqa: PLC0415
    from ..weights.convert import ConversionError, load_timm_weights, open_timm_checkpoint  # noqa: PLC0415
    from ..weights.convert.timm import checkpoint_classes, classifier_name, plan_batchnorm  # noqa: PLC0415

    check_output(output, save_model, overwrite=overwrite, inputs=[checkpoint])
    start = time.perf_counter()
    arch = MODELS[model_name]
    with open_timm_checkpoint(checkpoint, ema=ema, allow_pickle=allow_pickle) as ckpt:
        found = checkpoint_classes(ckpt, arch)
        head = f"{classifier_name(arch, ckpt.shapes)}.weight"
        if classes is not None and classes != found:
            have = f"has {found} classes ({head} {ckpt.shapes[head]})" if found else f"has no classifier ({head})"
            raise ConversionError(f"--classes {classes}, but the checkpoint {have}; "
                                  + (f"pass --classes {found} or leave it out" if found else "leave --classes out"))
        plan = plan_batchnorm(ckpt, arch, batchnorm_eps)
        kwargs = dict(classes=found) if found else dict(include_top=False)
        kwargs["batchnorm_scale"] = batchnorm_scale or not plan.foldable
        model = create_model(arch, **kwargs)
        report = load_timm_weights(model, ckpt, arch=arch, batchnorm_eps=batchnorm_eps)
    summary = {
        "checkpoint": os.fspath(checkpoint),
        "model": arch,
        "classes": found,
        "batchnorm_scale": kwargs["batchnorm_scale"],
        "build_kwargs": kwargs,
    }
    return save_converted(model, output, summary, report, start, arch=arch, build_kwargs=kwargs, verify=verify,
                          save_model=save_model)


def main(argv=None) -> int:
    args = options.parse_args(build_parser(), argv)
    try:
        summary = convert(args.checkpoint, args.model, args.output, classes=args.classes, ema=args.ema,
                          allow_pickle=args.allow_pickle, batchnorm_eps=args.batchnorm_eps,
                          batchnorm_scale=args.batchnorm_scale, save_model=args.save_model,
                          verify=not args.no_verify, overwrite=args.overwrite)
    except ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    build = ", ".join(f"{k}={v!r}" for k, v in summary["build_kwargs"].items())
    print_summary(summary, [
        ("checkpoint", summary["checkpoint"]),
        ("model", f"{summary['model']} ({build})"),
    ], tail=[("load with", f"create_model({summary['model']!r}, {build}, weights={summary['output']!r})")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
