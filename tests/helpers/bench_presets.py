"""Load times of the named preset ``inception_v4.tf_in1k`` (full graph, 299x299, 1000 classes).

    python tests/helpers/bench_presets.py [--workdir DIR]

1. first load: an empty Keras cache, the weights from a local Hub copy (the 127.0.0.1 Hub
   stand-in of the tests serving timm's layout: ``config.json`` + ``model.safetensors`` with
   every key and shape of timm's inception_v4): download, convert, cache, build, load;
2. warm load: a fresh process, the converted cache present: build and load.

Each is timed inside a fresh Python process around ``create_model("inception_v4.tf_in1k")``;
the import of the package (TensorFlow) is timed separately.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
sys.path[:0] = [REPO, TESTS]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import inception_keras
t1 = time.perf_counter()
model = inception_keras.create_model("inception_v4.tf_in1k")
t2 = time.perf_counter()
print(json.dumps({"import_s": round(t1 - t0, 2), "create_model_s": round(t2 - t1, 2),
                  "input_shape": list(model.input_shape), "output_shape": list(model.output_shape)}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=None, help="where the caches go (default: a new temporary folder)")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="inception_keras_bench_")
    os.makedirs(work, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import numpy as np
    from safetensors.numpy import save_file

    import inception_keras
    from helpers.hub_server import HubServer
    from helpers.timm_checkpoints import randomize, timm_state_dict

    ref = inception_keras.create_inception_v4(input_shape=(75, 75, 3), batchnorm_scale=True)
    randomize(ref, np.random.default_rng(0))
    weights = os.path.join(work, "model.safetensors")
    save_file(timm_state_dict(ref, "inception_v4"), weights)
    server = HubServer()
    config = {"architecture": "inception_v4", "num_classes": 1000, "pretrained_cfg": {"input_size": [3, 299, 299]}}
    server.repos["timm/inception_v4.tf_in1k"] = {"config.json": json.dumps(config).encode(),
                                                 "model.safetensors": open(weights, "rb").read()}
    env = dict(os.environ, HF_ENDPOINT=server.url, HF_HUB_OFFLINE="0", HF_HOME=os.path.join(work, "hf"),
               KERAS_HOME=os.path.join(work, "keras"), INCEPTION_KERAS_BASE_URL="file:///nonexistent")
    env.pop("INCEPTION_KERAS_WEIGHTS_DIR", None)
    try:
        for label in ("first load (local Hub copy, empty cache)", "warm load (converted cache)"):
            proc = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(proc.stderr[-3000:])
            print(f"{label}: {proc.stdout.strip().splitlines()[-1]}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
