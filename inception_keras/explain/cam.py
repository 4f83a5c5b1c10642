"""Grad-CAM and Grad-CAM++ on any spatial layer of a Keras classifier.

Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391) weights each channel ``k`` of a feature
map ``A`` by the spatial mean of the gradient of the class score (the logit, before the
softmax) with respect to it, sums, and keeps the positive part:
``ReLU(sum_k mean_ij(dy/dA_ijk) * A_k)``. Grad-CAM++ (Chattopadhay et al. 2018, arXiv
1710.11063) replaces the mean by a weighted sum of the positive gradients, with weights
from the second and third powers of the gradient, which separates several instances of a
class better.

The gradient with respect to an intermediate map is taken by adding a zero tensor ``delta``
to the layer's output and differentiating with respect to ``delta``: one graph walk that
works on every backend (``tf.GradientTape``, ``jax.value_and_grad``, ``torch.autograd``).
"""

from __future__ import annotations

import dataclasses
import difflib

import keras
import numpy as np
from PIL import Image

METHODS = ("gradcam", "gradcam++")
BACKENDS = ("tensorflow", "jax", "torch")


@dataclasses.dataclass(frozen=True)
class Explanation:
    """The explanation of one image.

    Attributes:
        class_index: the explained output.
        score: the model's output for it (a probability for a softmax head).
        logit: the differentiated score (the input of the final softmax, or the output).
        heatmap: float32 ``(height, width)`` in [0, 1] at the input's resolution (the
            layer's map resized bilinearly over the whole input, its maximum 1 unless all zero).
        cam: float32 ``(h, w)`` in [0, 1] at the layer's resolution (divided by its maximum;
            all zero where no position speaks for the class).
        layer: the layer explained.
        method: "gradcam" or "gradcam++".
        outputs: the model's whole output row for the image (every class's score).
    """

    class_index: int
    score: float
    logit: float
    heatmap: np.ndarray
    cam: np.ndarray
    layer: str
    method: str
    outputs: np.ndarray

    @property
    def peak(self) -> tuple[int, int] | None:
        """(x, y) of the heat map's maximum, in input pixels (column, row); None when the map
        is all zero (nothing at this layer speaks for the class)."""
        if not self.heatmap.any():
            return None
        row, col = np.unravel_index(int(np.argmax(self.heatmap)), self.heatmap.shape)
        return int(col), int(row)


def check_backend() -> str:
    """The Keras backend, or a ValueError saying which ones have gradients."""
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(f"Grad-CAM needs gradients, which this package takes on the tensorflow, jax and torch "
                         f"backends; Keras runs on {backend!r}: set KERAS_BACKEND=tensorflow (or jax, torch)")
    return backend


def default_layer(model) -> str:
    """The last feature map: ``model.feature_info``'s last level for the zoo's models
    (``Mixed_7d``, ``Conv2d_7b_1x1__relu``, the last C block), else the last layer with a 4D output."""
    info = getattr(model, "feature_info", None)
    if info:
        return info[-1].layer
    for layer in reversed(model.layers):
        if len(_shape(layer)) == 4:
            return layer.name
    raise ValueError(f"model {model.name!r} has no layer with a spatial (4D) output to explain")


def _shape(layer) -> tuple:
    output = _output(layer)  # None for a layer used more than once, or never called
    return tuple(output.shape) if output is not None and not isinstance(output, (list, tuple)) else ()


def spatial_layer(model, name: str):
    """The layer ``name`` of ``model``, checked to have a single 4D output; a ValueError
    naming the problem and the layers to choose from otherwise."""
    names = [layer.name for layer in model.layers]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        levels = getattr(model, "feature_info", None)
        levels = f" The feature levels are {', '.join(levels.layers())}." if levels else ""
        raise ValueError(f"model {model.name!r} has no layer named {name!r}{hint}{levels} "
                         f"(model.summary() lists every layer)")
    layer = model.get_layer(name)
    shape = _shape(layer)
    if len(shape) != 4:
        raise ValueError(f"layer {name!r} has output shape {shape or 'unknown'}: Grad-CAM needs a spatial feature "
                         f"map (batch, height, width, channels); choose a convolution or block before the pooling, "
                         f"such as {default_layer(model)!r}")
    return layer


def _score_tensor(model):
    """The tensor to differentiate: the first output, before its softmax if it ends with one."""
    output = model.outputs[0]
    layer = next((layer for layer in reversed(model.layers) if _output(layer) is output), None)
    softmax = isinstance(layer, keras.layers.Softmax) or (
        isinstance(layer, keras.layers.Activation) and getattr(layer.activation, "__name__", "") == "softmax")
    return layer.input if softmax else output


def _output(layer):
    try:
        return layer.output
    except (AttributeError, ValueError):
        return None


def gradcam(model, images, *, class_index=None, layer: str | None = None, method: str = "gradcam"):
    """Explain ``model``'s predictions on ``images`` with Grad-CAM or Grad-CAM++.

    Args:
        model: a functional (or built Sequential) Keras classifier, channels-last.
        images: a batch, shaped as the model's input and preprocessed as it expects.
        class_index: None (each image's top class), an int for every image, or one int per image.
        layer: the layer to explain (default :func:`default_layer`: the last feature map).
        method: "gradcam" or "gradcam++".

    Returns:
        A list of :class:`Explanation`, one per image.

    Example:
        >>> model = create_model("inception_v4", weights="imagenet")
        >>> [e] = gradcam(model, load_for_eval("cat.jpg", Preprocessing())[None])
        >>> e.class_index, e.score, e.peak
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    backend = check_backend()
    if keras.config.image_data_format() != "channels_last":
        raise ValueError("Grad-CAM here expects channels-last models (keras.config.image_data_format())")
    name = layer or default_layer(model)
    target = spatial_layer(model, name)
    x = np.asarray(images, dtype="float32")
    n = x.shape[0]
    classes = _class_indices(class_index, n, int(model.outputs[0].shape[-1]))
    grad_model = keras.Model(model.inputs, [target.output, _score_tensor(model), model.outputs[0]])
    shape = (n, *keras.Model(model.inputs, target.output).compute_output_shape(x.shape)[1:])

    def forward(delta):
        """The map (with ``delta`` added), the logits and the outputs."""

        def operation_fn(op):
            if op is not target:
                return op
            return lambda *args, **kwargs: op(*args, **kwargs) + delta

        # Functional._run_through_graph is how Functional.call walks the graph; calling the
        # layers without a training argument runs them in inference mode.
        return grad_model._run_through_graph([keras.ops.convert_to_tensor(x)], operation_fn=operation_fn)  # noqa: SLF001

    maps, grads, logits, outputs = _GRADIENTS[backend](forward, shape, classes)
    chosen = classes if classes is not None else np.argmax(logits, axis=-1)
    cams = _cams(maps, grads, method)
    out = []
    for i in range(n):
        c = int(chosen[i])
        cam = _normalise(cams[i])
        out.append(Explanation(class_index=c, score=float(outputs[i, c]), logit=float(logits[i, c]),
                               heatmap=_normalise(_resize(cam, x.shape[1:3])), cam=cam, layer=name, method=method, outputs=outputs[i]))
    return out


def _class_indices(class_index, n: int, classes: int):
    if class_index is None:
        return None
    values = np.broadcast_to(np.asarray(class_index), (n,)) if np.ndim(class_index) == 0 else np.asarray(class_index)
    if values.shape != (n,) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"class_index must be None, an int or one int per image ({n}), got {class_index!r}")
    bad = [int(v) for v in values if not 0 <= v < classes]
    if bad:
        raise ValueError(f"class index {bad[0]} is out of range: the model has {classes} outputs (0..{classes - 1})")
    return values.astype("int32")


def _selected_score(logits, classes):
    """The sum over the batch of each image's class logit (given, or its top class)."""
    ops = keras.ops
    idx = ops.argmax(logits, axis=-1) if classes is None else ops.convert_to_tensor(classes)
    picked = ops.take_along_axis(logits, ops.expand_dims(ops.cast(idx, "int32"), -1), axis=-1)
    return ops.sum(picked)


def _tensorflow_gradients(forward, shape, classes):
    import tensorflow as tf  # noqa: PLC0415

    delta = tf.zeros(shape)
    with tf.GradientTape() as tape:
        tape.watch(delta)
        maps, logits, outputs = forward(delta)
        score = _selected_score(logits, classes)
    grads = tape.gradient(score, delta)
    return tuple(np.asarray(t) for t in (maps, grads, logits, outputs))


def _jax_gradients(forward, shape, classes):
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415

    def score(delta):
        maps, logits, outputs = forward(delta)
        return _selected_score(logits, classes), (maps, logits, outputs)

    (_, (maps, logits, outputs)), grads = jax.value_and_grad(score, has_aux=True)(jnp.zeros(shape, "float32"))
    return tuple(np.asarray(t) for t in (maps, grads, logits, outputs))


def _torch_gradients(forward, shape, classes):
    import torch  # noqa: PLC0415

    delta = keras.ops.zeros(shape, "float32").requires_grad_(True)  # on Keras' device
    maps, logits, outputs = forward(delta)
    (grads,) = torch.autograd.grad(_selected_score(logits, classes), delta)
    return tuple(t.detach().cpu().numpy() for t in (maps, grads, logits, outputs))


_GRADIENTS = {"tensorflow": _tensorflow_gradients, "jax": _jax_gradients, "torch": _torch_gradients}


def _cams(maps: np.ndarray, grads: np.ndarray, method: str) -> np.ndarray:
    """(N, h, w, C) maps and gradients -> (N, h, w) class activation maps, before normalising."""
    maps, grads = maps.astype("float64"), grads.astype("float64")
    if method == "gradcam":
        weights = grads.mean(axis=(1, 2))
    else:
        # Grad-CAM++ with an exponential score: the exp(S) factors cancel in alpha and, per
        # image, in the normalised map, leaving powers of the logit's gradient.
        g2, g3 = grads**2, grads**3
        denominator = 2.0 * g2 + maps.sum(axis=(1, 2), keepdims=True) * g3
        alpha = np.divide(g2, denominator, out=np.zeros_like(g2), where=denominator != 0)
        weights = (alpha * np.maximum(grads, 0.0)).sum(axis=(1, 2))
    return np.maximum(np.einsum("nhwc,nc->nhw", maps, weights), 0.0)


def _normalise(cam: np.ndarray) -> np.ndarray:
    top = float(cam.max())
    return (cam / top if top > 0 else np.zeros_like(cam)).astype("float32")


def _resize(cam: np.ndarray, size) -> np.ndarray:
    """Bilinear resize of a (h, w) map to ``size`` (height, width), cell centres spread over the input."""
    height, width = int(size[0]), int(size[1])
    image = Image.fromarray(cam.astype("float32")).resize((width, height), Image.BILINEAR)
    return np.clip(np.asarray(image, dtype="float32"), 0.0, 1.0)
