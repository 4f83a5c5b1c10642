"""The backbone API: features_only, out_indices, feature_info, the same outputs on every backend."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import inception_keras
from inception_keras import list_models
from inception_keras.models.features import FeatureInfo

from helpers.common import randomize_batchnorm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = (75, 75, 3)
SIDES_75 = [35, 15, 7, 3, 1]  # strides 2, 4, 8, 16, 32 at 75x75 ('valid' convs)


# --------------------------------------------------------------------------- #
# One set of weights, three backends, the same outputs in the same order (the first
# test starts the JAX and PyTorch runs, the last one reads them)
# --------------------------------------------------------------------------- #
BACKEND_SCRIPT = r"""
import json, sys
import numpy as np
import keras
import inception_keras
weights, x_path, out_path = sys.argv[1:4]
model = inception_keras.create_inception_resnet_v1(features_only=True, input_shape=(75, 75, 3), weights=weights)
outputs = model(np.load(x_path), training=False)
np.savez(out_path, *[keras.ops.convert_to_numpy(y) for y in outputs])
print(json.dumps({"backend": keras.backend.backend(), "type": type(outputs).__name__,
                  "names": model.feature_info.names()}))
"""


@pytest.fixture(scope="module")
def saved_backbone(tmp_path_factory, request):
    """Inception-ResNet-v1 as a backbone with non-trivial BatchNorm statistics: its weights, an
    input, the TensorFlow outputs, and the JAX and PyTorch subprocesses started on them (they
    run while the other tests of this module build their models; only when the test that reads
    them is selected: it is slow, and ``-m "not slow"`` leaves it out)."""
    wanted = any(getattr(item, "originalname", None) == "test_jax_and_torch_give_the_same_list"
                 for item in request.session.items)
    folder = tmp_path_factory.mktemp("backbone")
    model = inception_keras.create_inception_resnet_v1(features_only=True, input_shape=SIZE)
    randomize_batchnorm(model, np.random.default_rng(3))
    x = np.random.default_rng(4).uniform(-1, 1, (2, *SIZE)).astype("float32")
    np.save(folder / "x.npy", x)
    model.save_weights(folder / "w.weights.h5")
    outputs = [np.asarray(y) for y in model(x, training=False)]
    procs = {}
    for backend in ("jax", "torch") if wanted else ():
        env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
        procs[backend] = subprocess.Popen(
            [sys.executable, "-c", BACKEND_SCRIPT, str(folder / "w.weights.h5"), str(folder / "x.npy"),
             str(folder / f"{backend}.npz")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    yield folder, x, outputs, model.feature_info.names(), procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _assert_close(got, expected):
    assert [g.shape for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4 * float(np.abs(e).max()))


def test_tensorflow_outputs_are_a_list_in_stride_order(saved_backbone):
    _, _, outputs, names, _ = saved_backbone
    assert [y.shape for y in outputs] == [(2, s, s, c) for s, c in zip(SIDES_75, (64, 192, 256, 896, 1792))]
    assert names == ["Conv2d_2b_3x3", "Conv2d_4a_3x3", "Repeat__block35_5", "Repeat_1__block17_10",
                     "Repeat_2__block8_5"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_each_level_is_the_named_layer(zoo, name):
    model = zoo.get(name, features_only=True, input_shape=(None, None, 3))
    info = model.feature_info
    assert isinstance(info, FeatureInfo) and [level.index for level in info] == [0, 1, 2, 3, 4]
    for level, output in zip(info, model.outputs):
        assert model.get_layer(level.layer).output is output, level
        assert output.shape[-1] == level.channels
    # the level is the last layer at its stride: the next stage halves the map
    shapes = model.compute_output_shape((1, 299, 299, 3))
    assert [s[1] for s in shapes] == [147, 71, 35, 17, 8]


@pytest.mark.slow
def test_feature_info_function_matches_the_built_model(zoo):
    model = zoo.get("inception_resnet_v1", features_only=True, input_shape=(None, None, 3))
    assert inception_keras.feature_info("inception_resnet_v1") == model.feature_info
    picked = inception_keras.feature_info("inception_resnet_v1", out_indices=(-1, 2))
    assert picked == FeatureInfo(model.feature_info[i] for i in (2, 4))
    assert picked.channels() == [256, 1792] and picked.reduction() == [8, 32]
    assert picked.layers() == ["Repeat__block35_5", "Repeat_2__block8_5"]
    assert picked.to_json()[0] == {"index": 2, "name": "Repeat__block35_5", "layer": "Repeat__block35_5",
                                   "channels": 256, "reduction": 8}


@pytest.mark.slow
def test_feature_info_of_a_preset_is_its_graphs():
    info = inception_keras.feature_info("inception_resnet_v2.tf_in1k")  # an alias of the slim preset: no download
    assert info.names() == ["Conv2d_2b_3x3", "Conv2d_4a_3x3", "Repeat__block35_10", "Repeat_1__block17_20",
                            "Conv2d_7b_1x1"]
    assert info[-1].layer == "Conv2d_7b_1x1__relu" and info.channels()[-1] == 1536


@pytest.mark.slow
def test_a_classifier_carries_all_five_levels_and_the_last_feeds_the_pooling(zoo):
    model = zoo.get("inception_resnet_v1", input_shape=SIZE)
    assert model.feature_info.reduction() == [2, 4, 8, 16, 32]
    last = model.get_layer(model.feature_info[-1].layer)
    assert model.get_layer("Logits__AvgPool_1a").input is last.output
    notop = zoo.get("inception_resnet_v1", include_top=False, input_shape=SIZE)  # pre-logits: the same map
    assert notop.output is notop.get_layer(notop.feature_info[-1].layer).output


@pytest.mark.parametrize(
    "out_indices, message",
    [((5,), "in 0..4"), ((1, 1), "twice"), ((1, -4), "twice"), ((), "non-empty"), ("ab", "in 0..4"),
     ((True,), "in 0..4"), (2.0, "in 0..4")],
)
def test_bad_out_indices(out_indices, message):
    with pytest.raises(ValueError, match=message):
        inception_keras.create_inception_resnet_v1(features_only=True, out_indices=out_indices, input_shape=SIZE)


def test_out_indices_needs_features_only():
    with pytest.raises(ValueError, match="features_only=True"):
        inception_keras.create_inception_resnet_v1(out_indices=(1, 2), input_shape=SIZE)


@pytest.mark.slow
def test_out_indices_load_the_whole_graphs_weights(saved_backbone):
    folder, x, outputs, _, _ = saved_backbone
    model = inception_keras.create_inception_resnet_v1(features_only=True, out_indices=(3, 1), input_shape=SIZE,
                                                       weights=str(folder / "w.weights.h5"))
    assert model.feature_info.names() == ["Conv2d_4a_3x3", "Repeat_1__block17_10"]  # stride order
    got = model(x, training=False)
    assert isinstance(got, list)
    _assert_close([np.asarray(y) for y in got], [outputs[1], outputs[3]])
    single = inception_keras.create_inception_resnet_v1(features_only=True, out_indices=-1, input_shape=SIZE)
    assert isinstance(single.output, list) and len(single.output) == 1  # always a list, as timm
    assert single.feature_info.reduction() == [32]


# The other tests of the module run first (pytest keeps the file's order) while these finish.
@pytest.mark.slow
def test_jax_and_torch_give_the_same_list(saved_backbone):
    folder, _, outputs, names, procs = saved_backbone
    for backend, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert result == {"backend": backend, "type": "list", "names": names}
        with np.load(folder / f"{backend}.npz") as got:
            _assert_close([got[f"arr_{i}"] for i in range(len(got.files))], outputs)
