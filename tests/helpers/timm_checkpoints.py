"""PyTorch-side weights in timm's exact layout (keys, OIHW / [out, in] shapes), written from
a Keras model through the inverse of the mapping, for the tests."""

import os

import keras
import numpy as np

from helpers.common import DATA, randomize_batchnorm
from inception_keras.weights.convert.timm import timm_variable_names

KEY_LISTS = {
    "inception_v4": "timm_inception_v4_keys.txt",
    "inception_resnet_v2_slim": "timm_inception_resnet_v2_keys.txt",
}


def read_timm_keys(arch):
    """``name<TAB>shape`` lines of timm's state dict -> {name: shape} (PyTorch layouts)."""
    out = {}
    with open(os.path.join(DATA, KEY_LISTS[arch])) as f:
        for line in f:
            if line.strip():
                name, shape = line.rstrip("\n").split("\t")
                out[name] = tuple(int(d) for d in shape.strip("()").split(",") if d)
    return out


def torch_layout(value):
    """Keras -> PyTorch layout: HWIO -> OIHW, [in, out] -> [out, in]."""
    if value.ndim == 4:
        value = value.transpose(3, 2, 0, 1)
    elif value.ndim == 2:
        value = value.T
    return np.ascontiguousarray(value)


def randomize(model, rng, negative_gamma_in=None):
    """Random BatchNorm statistics and gammas in [0.4, 2.5) (the model needs batchnorm_scale=True);
    one channel of the BatchNorm layer ``negative_gamma_in`` gets a gamma of -0.7."""
    randomize_batchnorm(model, rng)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma = rng.uniform(0.4, 2.5, layer.gamma.shape).astype("float32")
            if layer.name == negative_gamma_in:
                gamma[3] = -0.7
            layer.gamma.assign(gamma)


def timm_state_dict(model, arch, num_batches_tracked=True):
    """The model's variables under timm's keys in PyTorch layouts, plus num_batches_tracked."""
    names = timm_variable_names(model, arch)
    state = {names[v.path]: torch_layout(keras.ops.convert_to_numpy(v)) for v in model.weights}
    if num_batches_tracked:
        for key in [k for k in state if k.endswith(".bn.running_var")]:
            state[key[: -len("running_var")] + "num_batches_tracked"] = np.array(12345, dtype="int64")
    return state


def to_torch(state, prefix=""):
    import torch

    return {prefix + k: torch.from_numpy(np.array(v)) for k, v in state.items()}


def module_tree(state, eps):
    """An nn.Module whose state_dict() is ``state``: BatchNorm2d(eps=eps) for every ``*.bn``,
    plain modules holding the parameters elsewhere (what torch.save(model) pickles)."""
    import torch

    root = torch.nn.Module()

    def module_at(path):
        node = root
        for part in path.split("."):
            if part not in node._modules:
                node.add_module(part, torch.nn.Module())
            node = node._modules[part]
        return node

    for key, value in state.items():
        path, name = key.rsplit(".", 1)
        if path.endswith(".bn") or path == "bn":
            parent, child = path.rsplit(".", 1)
            holder = module_at(parent)
            if child not in holder._modules or not isinstance(holder._modules[child], torch.nn.BatchNorm2d):
                holder.add_module(child, torch.nn.BatchNorm2d(state[path + ".running_var"].shape[0], eps=eps))
            getattr(holder._modules[child], name).data = torch.from_numpy(np.array(value))
        else:
            module_at(path).register_parameter(name, torch.nn.Parameter(torch.from_numpy(np.array(value))))
    return root


def random_safetensors(path, arch="inception_v4", seed=0):
    """A timm state dict of random, well-scaled weights written as .safetensors, without
    building a Keras model: the cheapest checkpoint a converter accepts. The convolutions
    (He-scaled) are the same for every seed; the BatchNorm betas and the classifier differ.
    Returns ``path``."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    state = dict(_random_convolutions(arch))
    for name, shape in read_timm_keys(arch).items():
        if name in state:
            continue
        if name.endswith(".running_var") or name.endswith(".weight") and len(shape) == 1:
            state[name] = np.ones(shape, "float32")
        elif name.endswith(".bias") or len(shape) == 2:
            state[name] = rng.normal(0, 0.1, shape).astype("float32")
        else:
            state[name] = np.zeros(shape, "float32")
    save_file(state, os.fspath(path))
    return path


_CONVOLUTIONS = {}


def _random_convolutions(arch):
    if arch not in _CONVOLUTIONS:
        rng = np.random.default_rng(1234)
        _CONVOLUTIONS[arch] = {
            name: (rng.standard_normal(shape, "float32") * np.sqrt(2 / np.prod(shape[1:]))).astype("float32")
            for name, shape in read_timm_keys(arch).items() if len(shape) == 4}
    return _CONVOLUTIONS[arch]
