"""The module table: our slim scopes ("/"-separated) -> timm's module paths, and the variable names."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from ....models.layers import SEP
from ....models.specs import SPECS
from ..core import HEAD_LAYERS, ConversionError, as_source

# Keras variable name -> PyTorch parameter/buffer name.
BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
DENSE_NAMES = {"kernel": "weight", "bias": "bias"}
# Classifier module names: timm's first, then Cadene's pretrainedmodels (IR-v2: last_linear).
CLASSIFIERS = {"inception_v4": ("last_linear",), "inception_resnet_v2_slim": ("classif", "last_linear")}
TIMM_ARCHS = tuple(CLASSIFIERS)


def _one(k, conv):
    """A branch that is a single conv: timm names it ``branch{k}``."""
    return {f"Branch_{k}/{conv}": f"branch{k}"}


def _seq(k, *convs, first=0):
    """Convs run one after another: timm's nn.Sequential ``branch{k}.{i}`` (a pool takes index 0)."""
    return {f"Branch_{k}/{conv}": f"branch{k}.{i}" for i, conv in enumerate(convs, start=first)}


# Conv + BatchNorm units below a block's scope, per block type.
INCEPTION_A = {**_one(0, "Conv2d_0a_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_3x3"),
               **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3"), **_seq(3, "Conv2d_0b_1x1", first=1)}
INCEPTION_B = {**_one(0, "Conv2d_0a_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1"),
               **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_7x1", "Conv2d_0c_1x7", "Conv2d_0d_7x1", "Conv2d_0e_1x7"),
               **_seq(3, "Conv2d_0b_1x1", first=1)}
INCEPTION_C = {  # the split 1x3 / 3x1 convs are separate modules: branch1_1a, branch2_3b, ...
    **_one(0, "Conv2d_0a_1x1"),
    "Branch_1/Conv2d_0a_1x1": "branch1_0",
    "Branch_1/Conv2d_0b_1x3": "branch1_1a", "Branch_1/Conv2d_0c_3x1": "branch1_1b",
    "Branch_2/Conv2d_0a_1x1": "branch2_0", "Branch_2/Conv2d_0b_3x1": "branch2_1", "Branch_2/Conv2d_0c_1x3": "branch2_2",
    "Branch_2/Conv2d_0d_1x3": "branch2_3a", "Branch_2/Conv2d_0e_3x1": "branch2_3b",
    **_seq(3, "Conv2d_0b_1x1", first=1),
}
REDUCTION_A = {**_one(0, "Conv2d_1a_3x3"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3")}
REDUCTION_B_V4 = {**_seq(0, "Conv2d_0a_1x1", "Conv2d_1a_3x3"),
                  **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1", "Conv2d_1a_3x3")}
REDUCTION_B_RESNET = {**_seq(0, "Conv2d_0a_1x1", "Conv2d_1a_3x3"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_1a_3x3"),
                      **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3")}
MIXED_5B = {**_one(0, "Conv2d_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_5x5"),
            **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3"), **_seq(3, "Conv2d_0b_1x1", first=1)}
BLOCK35 = {**_one(0, "Conv2d_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_3x3"),
           **_seq(2, "Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_0c_3x3")}
BLOCK17 = {**_one(0, "Conv2d_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1")}
BLOCK8 = {**_one(0, "Conv2d_1x1"), **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x3", "Conv2d_0c_3x1")}
RESIDUAL_UP = {"Conv2d_1x1": "conv2d"}  # the residual blocks' linear 1x1 conv (bias, no BatchNorm)


def _v4_blocks():
    """(our block scope, timm module, units table): timm numbers v4's stages in ``features``."""
    spec = SPECS["inception_v4"]
    stem = [("", "features.0", {"Conv2d_1a_3x3": ""}), ("", "features.1", {"Conv2d_2a_3x3": ""}),
            ("", "features.2", {"Conv2d_2b_3x3": ""}),
            ("Mixed_3a", "features.3", {"Branch_1/Conv2d_0a_3x3": "conv"}),
            ("Mixed_4a", "features.4", {**_seq(0, "Conv2d_0a_1x1", "Conv2d_1a_3x3"),
                                        **_seq(1, "Conv2d_0a_1x1", "Conv2d_0b_1x7", "Conv2d_0c_7x1", "Conv2d_1a_3x3")}),
            ("Mixed_5a", "features.5", {"Branch_0/Conv2d_1a_3x3": "conv"})]
    stages = [("Mixed_5", spec.repeats[0], INCEPTION_A), ("Mixed_6a", None, REDUCTION_A),
              ("Mixed_6", spec.repeats[1], INCEPTION_B), ("Mixed_7a", None, REDUCTION_B_V4),
              ("Mixed_7", spec.repeats[2], INCEPTION_C)]
    blocks = list(stem)
    for prefix, repeats, table in stages:
        for name in [prefix] if repeats is None else [f"{prefix}{chr(ord('b') + i)}" for i in range(repeats)]:
            blocks.append((name, f"features.{len(blocks)}", table))
    return blocks, []


def _irv2_blocks():
    """TF-slim's Inception-ResNet-v2 in timm: modules named after slim's scopes, lower case."""
    spec = SPECS["inception_resnet_v2_slim"]
    blocks = [("", name.lower().rsplit("_", 1)[0], {name: ""})
              for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")]
    blocks += [("Mixed_5b", "mixed_5b", MIXED_5B)]
    residual = []
    for repeat, block, table, count in [("Repeat", "block35", BLOCK35, spec.repeats[0]),
                                        ("Repeat_1", "block17", BLOCK17, spec.repeats[1]),
                                        ("Repeat_2", "block8", BLOCK8, spec.repeats[2] - 1)]:
        for i in range(count):
            residual.append((f"{repeat}/{block}_{i + 1}", f"{repeat.lower()}.{i}", table))
        if block == "block35":
            residual.append(("Mixed_6a", "mixed_6a", REDUCTION_A))
        elif block == "block17":
            residual.append(("Mixed_7a", "mixed_7a", REDUCTION_B_RESNET))
    residual.append(("Block8", "block8", BLOCK8))  # the last, unscaled block without ReLU
    blocks += residual
    blocks.append(("", "conv2d_7b", {"Conv2d_7b_1x1": ""}))
    ups = [(scope, module) for scope, module, table in residual if table in (BLOCK35, BLOCK17, BLOCK8)]
    return blocks, ups


@functools.cache
def timm_modules(arch: str) -> dict[str, str]:
    """Our Keras layer name -> timm module path, for every layer with weights except the classifier."""
    blocks, ups = {"inception_v4": _v4_blocks, "inception_resnet_v2_slim": _irv2_blocks}[_check_arch(arch)]()
    out = {}
    for scope, module, table in blocks:
        for sub, timm_sub in table.items():
            layer = "/".join(p for p in (scope, sub) if p).replace("/", SEP)
            unit = ".".join(p for p in (module, timm_sub) if p)
            out[layer] = f"{unit}.conv"
            out[layer + SEP + "BatchNorm"] = f"{unit}.bn"
    for scope, module in ups:
        for sub, timm_sub in RESIDUAL_UP.items():
            out[f"{scope}/{sub}".replace("/", SEP)] = f"{module}.{timm_sub}"
    return out


def _check_arch(arch: str) -> str:
    if arch not in CLASSIFIERS:
        raise ConversionError(
            f"no timm layout for {arch!r}; timm has {', '.join(TIMM_ARCHS)} "
            f"(Inception-ResNet-v2 is TF-slim's graph: create_inception_resnet_v2(variant='slim'))"
        )
    return arch


def classifier_name(arch: str, shapes: Mapping[str, tuple]) -> str:
    """The classifier module of a state dict: ``last_linear`` (timm v4, Cadene) or ``classif`` (timm IR-v2)."""
    candidates = CLASSIFIERS[_check_arch(arch)]
    return next((c for c in candidates if f"{c}.weight" in shapes), candidates[0])


def timm_variable_names(model, arch: str, classifier: str | None = None) -> dict[str, str]:
    """Keras variable path -> timm state-dict key, for every variable of ``model``."""
    modules = timm_modules(arch)
    classifier = classifier or CLASSIFIERS[_check_arch(arch)][0]
    names = {}
    for v in model.weights:
        layer, var = v.path.split("/")
        if layer == "Logits__Logits":
            module, rename = classifier, DENSE_NAMES
        elif layer in modules:
            module, rename = modules[layer], (BN_NAMES if layer.endswith(SEP + "BatchNorm") else DENSE_NAMES)
        elif layer in HEAD_LAYERS or layer.startswith("AuxLogits" + SEP):
            raise ConversionError(
                f"{layer}: timm's {arch} has no auxiliary head; build the model with aux_logits=False"
            )
        else:
            raise ConversionError(f"Keras layer {layer!r} has no timm counterpart in {arch}")
        if var not in rename:
            raise ConversionError(f"Keras variable {v.path!r} has no timm counterpart")
        names[v.path] = f"{module}.{rename[var]}"
    return names


def checkpoint_classes(source, arch: str) -> int | None:
    """The number of classes of the checkpoint's classifier (None if it has none)."""
    shapes = as_source(source).shapes
    shape = shapes.get(f"{classifier_name(arch, shapes)}.weight")
    return int(shape[0]) if shape is not None and len(shape) == 2 else None
