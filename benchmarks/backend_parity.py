"""The same weights on every Keras backend and device: do the graphs compute the same logits?

    KERAS_BACKEND=tensorflow python benchmarks/backend_parity.py run --out tf.npz
    KERAS_BACKEND=jax python benchmarks/backend_parity.py run --out jax.npz --mixed-precision bfloat16
    python benchmarks/backend_parity.py compare tf.npz jax.npz torch.npz

``run`` builds each ``--model`` (logits out, no softmax) with weights drawn from a seeded numpy
generator in the order of ``model.weights`` (He-normal kernels, BatchNorm statistics near 1 and 0),
so that every backend gets the same numbers without a weights file, then writes the logits of
``--batch`` seeded random inputs (plus the mixed-precision ones, with ``--mixed-precision``).
It needs only Keras and the backend: no TensorFlow, so it runs on a machine with JAX or PyTorch alone.
``compare`` takes the first file as the reference and prints, per model, the largest logit
difference relative to the largest logit, and top-1 agreement; ``--json PATH`` writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MODELS = ["inception_v4", "inception_resnet_v1", "inception_resnet_v2"]


def seeded_weights(model, seed: int = 0) -> list[np.ndarray]:
    """Weights of ``model``'s shapes from one numpy generator, in the order of ``model.weights``."""
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        shape, name = tuple(w.shape), w.path.rsplit("/", 1)[-1]
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            values.append(rng.standard_normal(shape) * np.sqrt((2.0 if len(shape) == 4 else 1.0) / fan_in))
        elif name in ("gamma", "moving_variance"):
            values.append(rng.uniform(0.8, 1.2, shape))
        else:  # beta, moving_mean, bias
            values.append(rng.normal(0.0, 0.05, shape))
    return [v.astype("float32") for v in values]


def run(args) -> None:
    import keras

    from inception_keras import create_model

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (args.batch, args.input_size, args.input_size, 3)).astype("float32")
    out = {"backend": np.array(keras.backend.backend()), "device": np.array(_device())}
    for name in args.model:
        for policy in ["float32"] + ([f"mixed_{args.mixed_precision}"] if args.mixed_precision else []):
            keras.backend.clear_session()  # before the policy: clear_session resets it
            keras.mixed_precision.set_dtype_policy(policy)
            model = create_model(name, weights=None, classifier_activation=None,
                                 input_shape=(args.input_size, args.input_size, 3))
            model.set_weights(seeded_weights(model))
            logits = np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(x)), dtype="float32")
            out[f"{name}/{policy}"] = logits
            print(f"{name} {policy}: logits {logits.shape}, largest |logit| {np.abs(logits).max():.3f}", flush=True)
        keras.mixed_precision.set_dtype_policy("float32")
    np.savez(args.out, **out)


def _device() -> str:
    from inception_keras.profile import device_description

    return device_description()


def compare(args) -> None:
    files = [dict(np.load(p)) for p in args.files]
    ref = files[0]
    rows = []
    for path, other in zip(args.files, files):
        for key in sorted(k for k in other if "/" in k):
            base = ref.get(key.rsplit("/", 1)[0] + "/float32")
            if base is None:
                continue
            diff = float(np.abs(other[key] - base).max() / np.abs(base).max())
            agree = float(np.mean(np.argmax(other[key], 1) == np.argmax(base, 1)))
            rows.append({"file": os.path.basename(path), "backend": str(other["backend"]),
                         "device": str(other["device"]), "model": key.rsplit("/", 1)[0],
                         "precision": key.rsplit("/", 1)[1], "max_rel_diff": diff, "top1_agree": agree})
    print(f"reference: {args.files[0]} ({ref['backend']}, {ref['device']})")
    print(f"{'backend':<11} {'model':<26} {'precision':<15} {'max |diff| / max |logit|':>25} {'top-1 agree':>12}")
    for r in rows:
        print(f"{r['backend']:<11} {r['model']:<26} {r['precision']:<15} {r['max_rel_diff']:>25.2e} "
              f"{r['top1_agree']:>12.1%}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--model", nargs="+", default=MODELS)
    r.add_argument("--input-size", type=int, default=299)
    r.add_argument("--batch", type=int, default=8)
    r.add_argument("--mixed-precision", choices=["bfloat16", "float16"])
    c = sub.add_parser("compare")
    c.add_argument("files", nargs="+")
    c.add_argument("--json")
    args = parser.parse_args()
    run(args) if args.command == "run" else compare(args)


if __name__ == "__main__":
    main()
