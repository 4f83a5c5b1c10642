"""Convert a TF-slim checkpoint into Keras weights for our models.

    python tools/convert_slim_checkpoint.py --checkpoint inception_v4.ckpt --model inception_v4 --output inception_v4.weights.h5
    python tools/convert_slim_checkpoint.py --checkpoint inception_resnet_v2_2016_08_30.tar.gz \\
        --model inception_resnet_v2 --output irv2.weights.h5 --keep-background
    python tools/convert_slim_checkpoint.py --checkpoint ens_adv_inception_resnet_v2.ckpt --model inception_resnet_v2 \\
        --output ens_adv.weights.h5 --aux --ema --save-model

--checkpoint takes a V1 or V2 prefix, a directory holding one, or a release .tar.gz.
The output appears only when it is complete and has been read back and checked.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time

from inception_keras.fileio import atomic_save, write_json

MODELS = {"inception_v4": "inception_v4", "inception_resnet_v2": "inception_resnet_v2_slim"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convert_slim_checkpoint", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    src = parser.add_argument_group("source")
    src.add_argument("--checkpoint", required=True, help="checkpoint prefix (V1/V2), directory or .tar.gz")
    src.add_argument("--model", required=True, choices=sorted(MODELS),
                     help="graph of the checkpoint (inception_resnet_v2 = TF-slim's variant)")
    src.add_argument("--ema", action="store_true", help="use ExponentialMovingAverage shadows where present")
    out = parser.add_argument_group("output")
    out.add_argument("--output", required=True, help="Keras weights file to write (.weights.h5)")
    out.add_argument("--keep-background", action="store_true",
                     help="keep slim's 1001 outputs (index 0 = background) instead of 1000")
    out.add_argument("--aux", action="store_true", help="also port the auxiliary head (aux_logits=True)")
    out.add_argument("--save-model", nargs="?", const="", metavar="PATH",
                     help="also write the whole model as .keras (default: the output name with .keras)")
    out.add_argument("--no-verify", action="store_true", help="skip reading the output back and comparing outputs")
    return parser


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert(checkpoint: str, model_name: str, output: str, *, keep_background=False, aux=False, ema=False,
            save_model: str | None = None, verify=True) -> dict:
    """Library entry point of the tool; returns the summary it prints."""
    import keras  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from inception_keras import create_model  # noqa: PLC0415
    from inception_keras.convert import load_slim_weights, open_slim_checkpoint  # noqa: PLC0415

    if not output.endswith(".weights.h5"):
        raise ValueError(f"--output must end with .weights.h5 (Keras' weights format), got {output!r}")
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        raise ValueError(f"output folder {out_dir} does not exist")
    start = time.perf_counter()
    arch = MODELS[model_name]
    kwargs = dict(classes=1001 if keep_background else 1000, aux_logits=aux)
    model = create_model(arch, **kwargs)
    with open_slim_checkpoint(checkpoint) as ckpt:
        report = load_slim_weights(model, ckpt, arch=arch, drop_background=not keep_background, ema=ema)
    atomic_save(model.save_weights, output, ".weights.h5")
    max_diff = None
    if verify:  # read the file back into a fresh build and compare outputs on a fixed input
        x = np.random.default_rng(0).uniform(-1, 1, (1, 299, 299, 3)).astype("float32")
        check = create_model(arch, weights=output, **kwargs)
        a, b = model(x, training=False), check(x, training=False)
        a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
        max_diff = max(float(np.max(np.abs(keras.ops.convert_to_numpy(p) - keras.ops.convert_to_numpy(q))))
                       for p, q in zip(a, b))
        if max_diff != 0.0:
            os.remove(output)
            raise RuntimeError(f"the written weights give different outputs (max |diff| {max_diff}); removed {output}")
    summary = {
        "checkpoint": os.fspath(checkpoint),
        "model": arch,
        "classes": kwargs["classes"],
        "aux_logits": aux,
        "ema": ema,
        **report.to_json(),
        "output": output,
        "output_bytes": os.path.getsize(output),
        "sha256": _sha256(output),
        "verified_max_abs_diff": max_diff,
    }
    if save_model is not None:
        path = save_model or output[: -len(".weights.h5")] + ".keras"
        atomic_save(model.save, path, ".keras")
        summary["saved_model"] = path
        summary["saved_model_bytes"] = os.path.getsize(path)
    summary["seconds"] = round(time.perf_counter() - start, 2)
    summary["report_lines"] = report.summary_lines()
    return summary


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from inception_keras.convert import ConversionError  # noqa: PLC0415

    try:
        summary = convert(args.checkpoint, args.model, args.output, keep_background=args.keep_background,
                          aux=args.aux, ema=args.ema, save_model=args.save_model, verify=not args.no_verify)
    except (ConversionError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}")
        return 1
    rows = [
        ("checkpoint", summary["checkpoint"]),
        ("model", f"{summary['model']} (classes={summary['classes']}, aux={summary['aux_logits']}, ema={summary['ema']})"),
        *[("", line) for line in summary["report_lines"]],
        ("time", f"{summary['seconds']:.1f} s"),
        ("output", f"{summary['output']} ({summary['output_bytes'] / 1e6:.1f} MB)"),
        ("sha256", summary["sha256"]),
    ]
    if summary["verified_max_abs_diff"] is not None:
        rows.append(("verified", "read back: identical outputs"))
    if "saved_model" in summary:
        rows.append(("model file", f"{summary['saved_model']} ({summary['saved_model_bytes'] / 1e6:.1f} MB)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    report_path = summary["output"] + ".json"
    write_json(report_path, {k: v for k, v in summary.items() if k != "report_lines"})
    print(f"{'report':<{width}}  {report_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
