"""The PyTorch (timm) converter on weights the tests write in timm's exact layout, as
safetensors and as .pth files, from Keras models with random BatchNorm statistics and gammas."""

import argparse
import json
import os
import sys

import keras
import numpy as np
import pytest
import torch  # the test extra pins torch==2.13.0
from safetensors.numpy import save_file

import inception_keras
from inception_keras.models import blocks
from inception_keras.cli import convert_timm as timm_cli
from inception_keras.weights.convert import ConversionError, load_slim_weights, load_timm_weights, open_timm_checkpoint
from inception_keras.weights.convert.timm import BN_NAMES, plan_batchnorm, timm_variable_names
from inception_keras.weights.convert.transfer import copy_by_name
from inception_keras.models.layers import conv_bn
from inception_keras.models.specs import SPECS

from helpers.slim_checkpoints import slim_tensors
from helpers.timm_checkpoints import module_tree, randomize, read_timm_keys, timm_state_dict, to_torch, torch_layout

SMALL = (75, 75, 3)
V4, IRV2 = "inception_v4", "inception_resnet_v2_slim"
NEGATIVE = "Repeat_1__block17_4__Branch_1__Conv2d_0b_1x7__BatchNorm"  # the IR-v2 layer with a gamma < 0


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def assert_close(actual, expected):
    """Equal up to float32 rounding of the folded variances, relative to the output scale."""
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(expected))))


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform(-1, 1, (2, *SMALL)).astype("float32")


@pytest.fixture(scope="module")
def v4_ref():
    """The reference: Inception-v4 with gammas (all positive), given its values directly."""
    model = inception_keras.create_inception_v4(input_shape=SMALL, batchnorm_scale=True, classifier_activation=None)
    randomize(model, np.random.default_rng(1))
    return model


@pytest.fixture(scope="module")
def v4_state(v4_ref):
    return timm_state_dict(v4_ref, V4)


@pytest.fixture(scope="module")
def v4_expected(v4_ref, x):
    return _out(v4_ref, x)


@pytest.fixture(scope="module")
def small_v4():
    """A target without BatchNorm scale; every test that uses it converts all its variables."""
    return inception_keras.create_inception_v4(input_shape=SMALL, classifier_activation=None)


@pytest.fixture(scope="module")
def irv2_ref():
    """A fine-tuned 5-class Inception-ResNet-v2 with one negative gamma."""
    model = inception_keras.create_inception_resnet_v2(variant="slim", input_shape=SMALL, classes=5,
                                                       batchnorm_scale=True, classifier_activation=None)
    randomize(model, np.random.default_rng(2), negative_gamma_in=NEGATIVE)
    return model


@pytest.fixture(scope="module")
def irv2_state(irv2_ref):
    return timm_state_dict(irv2_ref, IRV2)


@pytest.fixture(scope="module")
def irv2_target():
    return inception_keras.create_inception_resnet_v2(variant="slim", input_shape=SMALL, classes=5,
                                                      batchnorm_scale=True, classifier_activation=None)


@pytest.fixture(scope="module")
def v4_safetensors(tmp_path_factory, v4_state):
    """v4_state as a DataParallel state dict (module. prefix) in a .safetensors file."""
    path = tmp_path_factory.mktemp("v4") / "inception_v4.safetensors"
    save_file({"module." + k: v for k, v in v4_state.items()}, str(path))
    return path


@pytest.fixture(scope="module")
def irv2_training_checkpoint(tmp_path_factory, irv2_state):
    """A timm training checkpoint: state_dict (with module. prefix) next to epoch, args, optimizer."""
    path = tmp_path_factory.mktemp("irv2") / "model_best.pth.tar"
    torch.save({"epoch": 17, "arch": "inception_resnet_v2", "state_dict": to_torch(irv2_state, "module."),
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]},
                "args": argparse.Namespace(model="inception_resnet_v2", lr=0.01), "version": 2}, str(path))
    return path


# --------------------------------------------------------------------------- #
# The mapping
# --------------------------------------------------------------------------- #
@pytest.mark.slow
@pytest.mark.parametrize("arch", [V4, IRV2])
def test_mapping_is_exactly_timms_state_dict(zoo, arch):
    expected = read_timm_keys(arch)  # timm 1.0.31's own keys and shapes
    model = zoo.get(arch, batchnorm_scale=True)
    names = timm_variable_names(model, arch)
    tracked = {k for k in expected if k.endswith(".num_batches_tracked")}
    assert len(set(names.values())) == len(names)  # injective
    assert set(names.values()) == set(expected) - tracked  # total both ways
    for v in model.weights:
        assert torch_layout(np.zeros(v.shape, "float32")).shape == expected[names[v.path]], v.path
    assert tracked == {k[: -len("running_var")] + "num_batches_tracked" for k in expected if k.endswith(".running_var")}
    # every gamma of the file is a BatchNorm gamma of the model (folded or kept)
    bn = [layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert {names[f"{b}/gamma"] for b in bn} == {k for k in expected if k.endswith(".bn.weight")}
    assert set(BN_NAMES) == {"gamma", "beta", "moving_mean", "moving_variance"}


# --------------------------------------------------------------------------- #
# Against PyTorch itself: blocks with random timm-layout weights, run by torch ops
# in timm's data flow (branch and concat order, paddings, pools, residual scale)
# --------------------------------------------------------------------------- #
F = torch.nn.functional


def _conv_bn(x, sd, module, stride=1, same=True):
    """timm's BasicConv2d: conv (no bias; symmetric padding, or none) -> BatchNorm2d(eps=0.001) -> ReLU."""
    w = sd[f"{module}.conv.weight"]
    x = F.conv2d(x, w, stride=stride, padding=(w.shape[2] // 2, w.shape[3] // 2) if same else 0)
    bn = [sd[f"{module}.bn.{n}"] for n in ("running_mean", "running_var", "weight", "bias")]
    return F.relu(F.batch_norm(x, *bn, training=False, eps=1e-3))


def _chain(x, sd, module, n, last_stride=1, last_same=None):
    """An nn.Sequential of n BasicConv2d; the last one strided / unpadded as told."""
    for i in range(n):
        last = i == n - 1
        same = (last_stride == 1 if last_same is None else last_same) if last else True
        x = _conv_bn(x, sd, f"{module}.{i}", stride=last_stride if last else 1, same=same)
    return x


def _avg(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max(x):
    return F.max_pool2d(x, 3, stride=2)


def _stem_v4(x, sd, m):
    x = _conv_bn(x, sd, "features.0", stride=2, same=False)
    x = _conv_bn(_conv_bn(x, sd, "features.1", same=False), sd, "features.2")
    x = torch.cat([_max(x), _conv_bn(x, sd, "features.3.conv", stride=2, same=False)], 1)  # Mixed3a
    x = torch.cat([_chain(x, sd, "features.4.branch0", 2, last_same=False),  # Mixed4a
                   _chain(x, sd, "features.4.branch1", 4, last_same=False)], 1)
    return torch.cat([_conv_bn(x, sd, "features.5.conv", stride=2, same=False), _max(x)], 1)  # Mixed5a


def _stem_irv2(x, sd, m):
    x = _conv_bn(x, sd, "conv2d_1a", stride=2, same=False)
    x = _max(_conv_bn(_conv_bn(x, sd, "conv2d_2a", same=False), sd, "conv2d_2b"))
    x = _max(_conv_bn(_conv_bn(x, sd, "conv2d_3b", same=False), sd, "conv2d_4a", same=False))
    return torch.cat([_conv_bn(x, sd, "mixed_5b.branch0"), _chain(x, sd, "mixed_5b.branch1", 2),
                      _chain(x, sd, "mixed_5b.branch2", 3), _conv_bn(_avg(x), sd, "mixed_5b.branch3.1")], 1)


def _inception_a(x, sd, m):
    return torch.cat([_conv_bn(x, sd, f"{m}.branch0"), _chain(x, sd, f"{m}.branch1", 2),
                      _chain(x, sd, f"{m}.branch2", 3), _conv_bn(_avg(x), sd, f"{m}.branch3.1")], 1)


def _inception_b(x, sd, m):
    return torch.cat([_conv_bn(x, sd, f"{m}.branch0"), _chain(x, sd, f"{m}.branch1", 3),
                      _chain(x, sd, f"{m}.branch2", 5), _conv_bn(_avg(x), sd, f"{m}.branch3.1")], 1)


def _inception_c(x, sd, m):
    """The 1x3 / 3x1 pairs are separate modules, concatenated a before b."""
    b1 = _conv_bn(x, sd, f"{m}.branch1_0")
    b2 = _conv_bn(_conv_bn(_conv_bn(x, sd, f"{m}.branch2_0"), sd, f"{m}.branch2_1"), sd, f"{m}.branch2_2")
    return torch.cat([_conv_bn(x, sd, f"{m}.branch0"),
                      _conv_bn(b1, sd, f"{m}.branch1_1a"), _conv_bn(b1, sd, f"{m}.branch1_1b"),
                      _conv_bn(b2, sd, f"{m}.branch2_3a"), _conv_bn(b2, sd, f"{m}.branch2_3b"),
                      _conv_bn(_avg(x), sd, f"{m}.branch3.1")], 1)


def _reduction_a(x, sd, m):
    return torch.cat([_conv_bn(x, sd, f"{m}.branch0", stride=2, same=False),
                      _chain(x, sd, f"{m}.branch1", 3, 2), _max(x)], 1)


def _reduction_b_v4(x, sd, m):
    return torch.cat([_chain(x, sd, f"{m}.branch0", 2, 2), _chain(x, sd, f"{m}.branch1", 4, 2), _max(x)], 1)


def _reduction_b_resnet(x, sd, m):
    return torch.cat([_chain(x, sd, f"{m}.branch0", 2, 2), _chain(x, sd, f"{m}.branch1", 2, 2),
                      _chain(x, sd, f"{m}.branch2", 3, 2), _max(x)], 1)


def _residual(x, sd, m, branches, scale, relu=True):
    up = F.conv2d(torch.cat(branches, 1), sd[f"{m}.conv2d.weight"], sd[f"{m}.conv2d.bias"])
    return F.relu(x + scale * up) if relu else x + scale * up


def _block35(x, sd, m):
    return _residual(x, sd, m, [_conv_bn(x, sd, f"{m}.branch0"), _chain(x, sd, f"{m}.branch1", 2),
                                _chain(x, sd, f"{m}.branch2", 3)], 0.17)


def _block17(x, sd, m):
    return _residual(x, sd, m, [_conv_bn(x, sd, f"{m}.branch0"), _chain(x, sd, f"{m}.branch1", 3)], 0.10)


def _block8(x, sd, m):
    return _residual(x, sd, m, [_conv_bn(x, sd, f"{m}.branch0"), _chain(x, sd, f"{m}.branch1", 3)], 0.20)


def _last_block8_and_conv(x, sd, m):
    """timm's block8 (no_relu, scale 1.0) and conv2d_7b."""
    x = _residual(x, sd, "block8", [_conv_bn(x, sd, "block8.branch0"), _chain(x, sd, "block8.branch1", 3)], 1.0,
                  relu=False)
    return _conv_bn(x, sd, "conv2d_7b")


V4_SPEC, IRV2_SPEC = SPECS[V4], SPECS[IRV2]
BLOCKS = {  # timm modules -> (arch, input (H, W, C), forward with torch ops, our block)
    "features.0-5": (V4, (75, 75, 3), _stem_v4, blocks.stem_v4),
    "features.6": (V4, (9, 9, 384), _inception_a, lambda x: blocks.inception_a(x, V4_SPEC.inception_a, "Mixed_5b")),
    "features.10": (V4, (9, 9, 384), _reduction_a, lambda x: blocks.reduction_a(x, V4_SPEC.reduction_a)),
    "features.11": (V4, (9, 9, 1024), _inception_b, lambda x: blocks.inception_b(x, V4_SPEC.inception_b, "Mixed_6b")),
    "features.18": (V4, (9, 9, 1024), _reduction_b_v4, lambda x: blocks.reduction_b_v4(x, V4_SPEC.reduction_b)),
    "features.19": (V4, (5, 5, 1536), _inception_c,
                    lambda x: blocks.inception_c(x, V4_SPEC.inception_c, "Mixed_7b")),
    "conv2d_1a-mixed_5b": (IRV2, (75, 75, 3), _stem_irv2, blocks.stem_slim),
    "repeat.0": (IRV2, (9, 9, 320), _block35, lambda x: blocks.block35(x, IRV2_SPEC.block_a, 0.17, "Repeat__block35_1")),
    "mixed_6a": (IRV2, (9, 9, 320), _reduction_a, lambda x: blocks.reduction_a(x, IRV2_SPEC.reduction_a)),
    "repeat_1.0": (IRV2, (9, 9, 1088), _block17,
                   lambda x: blocks.block17(x, IRV2_SPEC.block_b, 0.10, "Repeat_1__block17_1")),
    "mixed_7a": (IRV2, (9, 9, 1088), _reduction_b_resnet,
                 lambda x: blocks.reduction_b_resnet(x, IRV2_SPEC.reduction_b)),
    "repeat_2.0": (IRV2, (5, 5, 2080), _block8,
                   lambda x: blocks.block8(x, IRV2_SPEC.block_c, 0.20, "Repeat_2__block8_1")),
    "block8-conv2d_7b": (IRV2, (5, 5, 2080), _last_block8_and_conv, lambda x: conv_bn(
        blocks.block8(x, IRV2_SPEC.block_c, 1.0, "Block8", activation=False), 1536, "Conv2d_7b_1x1")),
}
STEMS = {  # several modules in one test
    "features.0-5": [f"features.{i}." for i in range(6)],
    "conv2d_1a-mixed_5b": ["conv2d_1a.", "conv2d_2a.", "conv2d_2b.", "conv2d_3b.", "conv2d_4a.", "mixed_5b."],
    "block8-conv2d_7b": ["block8.", "conv2d_7b."],
}


@pytest.mark.parametrize("module", list(BLOCKS))
def test_block_equals_pytorch_forward(module):
    """Random weights made in PyTorch layouts for timm's keys of the block, converted into our
    block, give what torch's own ops give in timm's data flow (branch and concat order,
    paddings, pools, residual scale): independent of the mapping's inverse."""
    arch, shape, torch_block, keras_block = BLOCKS[module]
    prefixes = tuple(STEMS.get(module, [module + "."]))
    rng = np.random.default_rng(7)
    state = {}
    for key, key_shape in read_timm_keys(arch).items():
        if not key.startswith(prefixes):
            continue
        if key.endswith("num_batches_tracked"):
            value = np.array(100, "int64")
        elif key.endswith(("running_var", "bn.weight")):
            value = rng.uniform(0.5, 1.5, key_shape).astype("float32")
        elif key.endswith(("running_mean", "bias")):
            value = rng.normal(0.0, 0.2, key_shape).astype("float32")
        else:
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(key_shape[1:])), key_shape).astype("float32")
        state[key] = value
    inp = keras.Input(shape)
    model = keras.Model(inp, keras_block(inp))
    report = load_timm_weights(model, state, arch=arch)  # gammas folded
    assert len(report.mapped) == len(model.weights) and len(report.mapped) > 0
    x = rng.uniform(-1, 1, (2, *shape)).astype("float32")
    with torch.no_grad():
        expected = torch_block(torch.from_numpy(x).permute(0, 3, 1, 2), to_torch(state), module)
    assert_close(_out(model, x), expected.permute(0, 2, 3, 1).numpy())


# --------------------------------------------------------------------------- #
# BatchNorm: folded where every gamma is positive, kept otherwise
# --------------------------------------------------------------------------- #
def test_positive_gammas_are_folded(v4_safetensors, v4_state, v4_expected, small_v4, x):
    with open_timm_checkpoint(v4_safetensors) as ckpt:
        report = load_timm_weights(small_v4, ckpt, arch=V4)
    assert not [v for v in small_v4.weights if v.name == "gamma"]  # the model stays scale=False
    assert_close(_out(small_v4, x), v4_expected)
    bn = small_v4.get_layer("Mixed_6b__Branch_2__Conv2d_0d_7x1__BatchNorm")
    gamma, var = v4_state["features.11.branch2.3.bn.weight"], v4_state["features.11.branch2.3.bn.running_var"]
    np.testing.assert_allclose(bn.moving_variance.numpy() + 1e-3, (var + 1e-3) / gamma**2, rtol=1e-6)
    np.testing.assert_array_equal(bn.beta.numpy(), v4_state["features.11.branch2.3.bn.bias"])
    assert report.details["batchnorm"] == "folded" and report.details["batchnorm_max_fold_error"] < 1e-6
    assert len(report.mapped) == len(small_v4.weights) == 598 and len(report.read_into) == 149
    assert report.ignored_by_reason() == {"BatchNorm num_batches_tracked (training step counter)": 149}
    assert report.details["key_prefix_stripped"] == "module."
    assert any("0.001 assumed" in line for line in report.summary_lines())


def test_negative_gamma_needs_batchnorm_scale(irv2_training_checkpoint, irv2_ref, irv2_target, x, v4_state, small_v4):
    with open_timm_checkpoint(irv2_training_checkpoint) as ckpt:
        plan = plan_batchnorm(ckpt, IRV2)
        assert not plan.foldable and plan.nonpositive == ["repeat_1.3.branch1.1.bn.weight"]
        report = load_timm_weights(irv2_target, ckpt, arch=IRV2)
    np.testing.assert_array_equal(_out(irv2_target, x), _out(irv2_ref, x))  # gamma copied: bit-identical
    assert report.details["batchnorm"] == "scale" and report.read_into == []
    assert report.ignored["epoch"] == "checkpoint entry outside 'state_dict' (int)"
    assert report.ignored["args"] == "checkpoint entry outside 'state_dict' (Namespace)"
    # the same into a model without BatchNorm scale is refused before anything is assigned
    state = dict(v4_state, **{"features.9.branch2.1.bn.weight": -v4_state["features.9.branch2.1.bn.weight"]})
    before = small_v4.get_layer("Conv2d_1a_3x3").kernel.numpy()
    with pytest.raises(ConversionError, match=r"1 BatchNorm layers have a gamma <= 0 \(e.g. features.9.branch2.1.bn."
                                               r"weight\), which cannot be folded .*: build the model with "
                                               r"batchnorm_scale=True"):
        load_timm_weights(small_v4, state, arch=V4)
    np.testing.assert_array_equal(small_v4.get_layer("Conv2d_1a_3x3").kernel.numpy(), before)


def test_cadene_last_linear_naming(irv2_state, irv2_ref, irv2_target, x):
    state = {k.replace("classif.", "last_linear."): v for k, v in irv2_state.items()}
    report = load_timm_weights(irv2_target, state, arch=IRV2)
    assert report.details["classifier"] == "last_linear"
    np.testing.assert_array_equal(_out(irv2_target, x), _out(irv2_ref, x))


@pytest.mark.parametrize("how", ["pickled module", "batchnorm_eps"])
def test_other_batchnorm_epsilon_is_absorbed(how, v4_state, v4_expected, small_v4, x, tmp_path):
    """Weights trained with eps=1e-5: var + 1e-5 must equal the reference's var + 1e-3."""
    state = {k: (v + np.float32(1e-3 - 1e-5) if k.endswith(".running_var") else v) for k, v in v4_state.items()}
    if how == "pickled module":
        path = tmp_path / "whole_model.pth"
        torch.save(module_tree(state, eps=1e-5), str(path))
        with pytest.raises(ConversionError, match=r"forbidden object, torch.nn.modules.module.Module \(.* a whole "
                                                  r"model saved with torch.save\(model\) does this.* "
                                                  r"allow_pickle=True \(--allow-pickle\)"):
            with open_timm_checkpoint(path):
                pass
        with open_timm_checkpoint(path, allow_pickle=True) as ckpt:
            report = load_timm_weights(small_v4, ckpt, arch=V4)
        assert report.details["batchnorm_eps_source"] == "read from the pickled module"
    else:
        report = load_timm_weights(small_v4, state, arch=V4, batchnorm_eps=1e-5)
        assert report.details["batchnorm_eps_source"] == "given"
    assert len(report.details["batchnorm_eps_other"]) == 149
    assert any("1e-05" in line and "absorbed" in line for line in report.notes)
    assert_close(_out(small_v4, x), v4_expected)


# --------------------------------------------------------------------------- #
# Errors name both sides
# --------------------------------------------------------------------------- #
def test_missing_extra_and_wrong_shape(v4_state, small_v4):
    state = dict(v4_state)
    del state["features.11.branch1.1.conv.weight"]
    del state["features.0.bn.weight"]
    state["features.6.branch0.bn.bias"] = np.zeros(97, "float32")
    state["features.22.conv.weight"] = np.zeros((2, 2, 1, 1), "float32")
    with pytest.raises(ConversionError) as info:
        load_timm_weights(small_v4, state, arch=V4)
    message = str(info.value)
    assert ("Mixed_6b__Branch_1__Conv2d_0b_1x7/kernel  <-  features.11.branch1.1.conv.weight  "
            "(expected shape (1, 7, 192, 224))") in message
    assert ("Conv2d_1a_3x3__BatchNorm/moving_variance  <-  features.0.bn.weight  "
            "(read with features.0.bn.running_var, expected shape (32,))") in message
    assert "Mixed_5b__Branch_0__Conv2d_0a_1x1__BatchNorm/beta (96,)  <-  features.6.branch0.bn.bias (97,)" in message
    assert "tensors of the dict are not used by the model:\n  features.22.conv.weight (2, 2, 1, 1)" in message


def test_classes_and_architecture_mismatch(v4_state, small_v4, irv2_target):
    state = dict(v4_state, **{"last_linear.weight": v4_state["last_linear.weight"][:7],
                              "last_linear.bias": v4_state["last_linear.bias"][:7]})
    with pytest.raises(ConversionError, match=r"last_linear.weight \(7, 1536\) has 7 classes but the model was built "
                                              r"with classes=1000: build it with classes=7 \(--classes 7\)"):
        load_timm_weights(small_v4, state, arch=V4)
    with pytest.raises(ConversionError, match="this file looks like timm's inception_v4"):
        load_timm_weights(irv2_target, {k: v for k, v in v4_state.items() if not k.startswith("last_linear")},
                          arch=IRV2)


# --------------------------------------------------------------------------- #
# Reading files
# --------------------------------------------------------------------------- #
def test_reader_formats_and_failures(tmp_path, monkeypatch):
    small = {"a.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    torch.save({"state_dict": {"x": torch.zeros(1)}, "state_dict_ema": small, "args": argparse.Namespace(lr=1)},
               str(tmp_path / "ema.pth.tar"))
    with open_timm_checkpoint(tmp_path / "ema.pth.tar", ema=True) as ckpt:
        assert ckpt.shapes == {"a.weight": (2, 3)}
        np.testing.assert_array_equal(ckpt.get("a.weight"), small["a.weight"].numpy())
        assert ckpt.ignored["state_dict"] == "checkpoint entry outside 'state_dict_ema' (dict)"
    with open_timm_checkpoint(tmp_path / "ema.pth.tar") as ckpt:
        assert ckpt.shapes == {"x": (1,)} and "state_dict_ema" in ckpt.ignored
    torch.save(small, str(tmp_path / "plain.bin"))
    with pytest.raises(ConversionError, match=r"ema=True \(--ema\) but .*plain.bin has no state_dict_ema "
                                              r"or model_ema \(its entries: a.weight\)"):
        with open_timm_checkpoint(tmp_path / "plain.bin", ema=True):
            pass
    from safetensors.torch import save_file as save_torch_file

    save_torch_file({"b": torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16)}, str(tmp_path / "bf16.safetensors"))
    with open_timm_checkpoint(tmp_path / "bf16.safetensors") as ckpt:
        value = ckpt.get("b")
        assert value.dtype == np.float32 and value.tolist() == [1.5, -2.25, 3.0]
    (tmp_path / "junk.pth").write_bytes(b"not a pickle" * 100)
    with pytest.raises(ConversionError, match="not a readable PyTorch file"):
        with open_timm_checkpoint(tmp_path / "junk.pth"):
            pass
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors" * 100)
    with pytest.raises(ConversionError, match="not a readable safetensors file"):
        with open_timm_checkpoint(tmp_path / "junk.safetensors"):
            pass
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(ConversionError, match="unknown PyTorch weights format"):
        with open_timm_checkpoint(tmp_path / "weights.npz"):
            pass
    with pytest.raises(ConversionError, match="no file at"):
        with open_timm_checkpoint(tmp_path / "absent.safetensors"):
            pass
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    with pytest.raises(ConversionError, match=r"needs PyTorch .*pip install torch.*\.safetensors"):
        with open_timm_checkpoint(tmp_path / "plain.bin"):
            pass


# --------------------------------------------------------------------------- #
# weights= in the constructors
# --------------------------------------------------------------------------- #
def test_constructor_weights_path(v4_safetensors, v4_expected, x):
    model = inception_keras.create_inception_v4(input_shape=SMALL, weights=v4_safetensors, classifier_activation=None)
    assert_close(_out(model, x), v4_expected)
    with pytest.raises(ValueError, match=r"PyTorch weights file; timm's layouts exist for .* "
                                         r"\(use create_inception_resnet_v2\(variant='slim'\)\)"):
        inception_keras.create_inception_resnet_v2(input_shape=SMALL, weights=v4_safetensors)


# --------------------------------------------------------------------------- #
# The tool
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_tool_end_to_end(irv2_training_checkpoint, irv2_ref, x, tmp_path, capsys):
    out = tmp_path / "irv2.weights.h5"
    rc = timm_cli.main(["--checkpoint", str(irv2_training_checkpoint), "--model", "inception_resnet_v2",
                        "--output", str(out), "--classes", "5"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "tensors mapped: 1102" in printed and "gamma kept in 204 layers" in printed and "sha256" in printed
    assert "load with   create_model('inception_resnet_v2_slim', classes=5, batchnorm_scale=True" in printed
    report = json.loads((tmp_path / "irv2.weights.h5.json").read_text())
    assert report["classes"] == 5 and report["batchnorm"] == "scale" and report["batchnorm_scale"] is True
    assert report["batchnorm_nonpositive_gamma"] == ["repeat_1.3.branch1.1.bn.weight"]
    assert report["ignored_by_reason"]["BatchNorm num_batches_tracked (training step counter)"] == 204
    assert report["verified_max_abs_diff"] == 0.0 and report["key_prefix_stripped"] == "module."
    assert sorted(os.listdir(tmp_path)) == ["irv2.weights.h5", "irv2.weights.h5.json"]
    model = inception_keras.create_model(IRV2, input_shape=SMALL, classes=5, batchnorm_scale=True, weights=out,
                                         classifier_activation=None)
    np.testing.assert_array_equal(_out(model, x), _out(irv2_ref, x))


def test_tool_failures_leave_no_output(irv2_training_checkpoint, tmp_path, capsys):
    out = tmp_path / "out" / "irv2.weights.h5"
    out.parent.mkdir()
    rc = timm_cli.main(["--checkpoint", str(irv2_training_checkpoint), "--model", "inception_resnet_v2",
                        "--output", str(out), "--classes", "1000"])
    assert rc == 2
    assert ("--classes 1000, but the checkpoint has 5 classes (classif.weight (5, 1536)); pass --classes 5"
            in capsys.readouterr().err)
    truncated = tmp_path / "cut.pth.tar"
    truncated.write_bytes(irv2_training_checkpoint.read_bytes()[:1_000_000])
    assert timm_cli.main(["--checkpoint", str(truncated), "--model", "inception_resnet_v2", "--output", str(out)]) == 2
    assert "not a readable PyTorch file" in capsys.readouterr().err
    assert os.listdir(out.parent) == []


# --------------------------------------------------------------------------- #
# batchnorm_scale=True, the constructor option
# --------------------------------------------------------------------------- #
def test_batchnorm_scale_option(v4_ref, small_v4):
    assert [layer.name for layer in v4_ref.layers] == [layer.name for layer in small_v4.layers]
    bn = [layer for layer in v4_ref.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert all(layer.scale and layer.gamma.path == f"{layer.name}/gamma" for layer in bn)
    assert not any(layer.scale for layer in small_v4.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert v4_ref.count_params() - small_v4.count_params() == sum(layer.gamma.shape[0] for layer in bn) == 31_584
    with pytest.raises(ValueError, match="batchnorm_scale must be True or False"):
        inception_keras.create_model("inception_resnet_v1", batchnorm_scale="yes")


def test_batchnorm_scale_with_tf_slim_weights(v4_ref):
    """Published TF-slim weights have no gamma: copying them gives gamma = 1 (exact); a
    checkpoint converted straight into a model with gamma is refused with the reason."""
    plain = inception_keras.create_inception_resnet_v1(input_shape=SMALL, include_top=False, name="plain")
    scaled = inception_keras.create_inception_resnet_v1(input_shape=SMALL, include_top=False, batchnorm_scale=True,
                                                        name="scaled")
    randomize(scaled, np.random.default_rng(4))
    copy_by_name(plain, scaled)
    assert all(np.all(v.numpy() == 1) for v in scaled.weights if v.name == "gamma")
    xs = np.random.default_rng(1).uniform(-1, 1, (1, *SMALL)).astype("float32")
    np.testing.assert_array_equal(_out(scaled, xs), _out(plain, xs))
    randomize(scaled, np.random.default_rng(5))
    with pytest.raises(ConversionError, match="a BatchNorm scale .gamma. in 'scaled' but not in 'plain'; "
                                              "build 'plain' with batchnorm_scale=True"):
        copy_by_name(scaled, plain)
    with pytest.raises(ConversionError, match="BatchNorm has no gamma .*build the model with batchnorm_scale=False"):
        load_slim_weights(v4_ref, slim_tensors(V4, decoys=False), arch=V4)
