"""The per-batch function of batch inference: encoded images in, chunk arrays out.

:class:`Predictor` wraps a classifier: it returns the top-k classes and probabilities of a
batch, and with ``embeddings`` the pooled features: the classifier's input by default (the
global average pool of the last feature map: what ``create_model(..., include_top=False,
pooling="avg")`` outputs), or any named layer's output (``layer``), globally average-pooled when
it is a feature map. The local engine feeds it from a ``tf.data`` pipeline
(:mod:`.pipeline`); the Ray engine calls :meth:`Predictor.predict_encoded` inside its actors.
"""

from __future__ import annotations

import difflib
import hashlib
import os

import numpy as np

from ..data.preprocessing import decode_and_preprocess, preprocess_for_eval
from ..data.images import current_limit, decode_any
from ..runtimes import Runner


def _producer(tensor):
    """(the operation that made ``tensor``, its input tensors in this graph). A layer called in
    several graphs (the classifier's head, shared by :meth:`ImageClassifier.to_model`) has one
    node per call: ``layer.input`` is the first call's, the node is this tensor's."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None, []
    op, node_index, _ = history
    return op, list(op._inbound_nodes[node_index].input_tensors)  # noqa: SLF001 - Keras' graph walk


def _output_in_graph(model, name: str):
    """The output of layer ``name`` in ``model``'s own graph (walked back from its outputs)."""
    seen, todo = set(), list(model.outputs)
    while todo:
        tensor = todo.pop()
        op, inputs = _producer(tensor)
        if op is None or id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if op.name == name:
            return tensor
        todo.extend(inputs)
    return model.get_layer(name).output


def _classifier(model):
    """(the Dense layer behind the model's first output, whether its output needs a softmax, the
    Dense layer's input tensor in ``model``'s graph)."""
    import keras  # noqa: PLC0415

    op, inputs = _producer(model.outputs[0])
    softmax = True
    if isinstance(op, keras.layers.Activation):
        softmax = getattr(op.activation, "__name__", "") != "softmax"
        op, inputs = _producer(inputs[0])
    if not isinstance(op, keras.layers.Dense):
        raise ValueError(f"the model {model.name!r} does not end in a classifier (a Dense layer); "
                         f"build it with include_top=True")
    if getattr(op.activation, "__name__", "linear") == "softmax":
        softmax = False
    return op, softmax, inputs[0]


def features_tensor(model, layer: str | None):
    """The features of ``layer`` (default: the classifier's input), globally average-pooled when
    a feature map; ValueError naming close layer names when there is no such layer."""
    import keras  # noqa: PLC0415

    if layer is None:
        tensor = _classifier(model)[2]
    else:
        try:
            model.get_layer(layer)
            tensor = _output_in_graph(model, layer)
        except ValueError:
            names = [lay.name for lay in model.layers]
            close = difflib.get_close_matches(layer, names, n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else f" (its layers: {names[1]} ... {names[-1]})"
            raise ValueError(f"--layer {layer}: the model {model.name!r} has no layer of that name{hint}; "
                             f"tools/list_models.py --layers lists them") from None
        if isinstance(tensor, (list, tuple)):
            raise ValueError(f"--layer {layer} has several outputs; name a layer with one")
    if len(tensor.shape) == 4:
        tensor = keras.layers.GlobalAveragePooling2D(name="inference_features_pool")(tensor)
    elif len(tensor.shape) != 2:
        raise ValueError(f"--layer {layer}: its output has shape {tuple(tensor.shape)}; name a layer with a "
                         f"feature map (batch, height, width, channels) or a vector")
    return tensor


def weights_digest(model) -> str:
    """sha256 of every weight of ``model``, in order: what resuming compares (an exported
    model's: of its file, or of every file of a SavedModel folder, in path order)."""
    digest = hashlib.sha256()
    if isinstance(model, Runner):
        files = [model.path] if os.path.isfile(model.path) else sorted(
            os.path.join(d, f) for d, _, names in os.walk(model.path) for f in names)
        for path in files:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()
    for w in model.weights:
        value = np.ascontiguousarray(np.asarray(w))
        digest.update(f"{w.path}:{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class Predictor:
    """Top-k classes (and embeddings) of batches of images for one model.

    Args:
        model: a classifier: a Keras model whose first output is class scores, or a
            :class:`inception_keras.runtimes.Runner` (an exported model: no embeddings).
        class_names: its class names, in output order.
        preprocessing: :class:`inception_keras.data.preprocessing.Preprocessing`.
        top: classes kept per image (at most the number of classes).
        embeddings: also return pooled features.
        layer: the layer whose (pooled) output is the embedding; None: the classifier's input.
        strategy: a ``tf.distribute`` strategy the model was built under (None: the default).
        jit_compile: compile the forward pass with XLA.
        max_pixels: images over this many pixels are unreadable (None: the current limit).
        name: what the model is called in the run's description.
        weights: what its weights are called in the run's description.
    """

    def __init__(self, model, class_names, preprocessing, *, top: int = 5, embeddings: bool = False,
                 layer: str | None = None, strategy=None, jit_compile: bool = False, max_pixels: int | None = None,
                 name: str | None = None, weights: str | None = None):
        self.model = model
        self.class_names = list(class_names)
        self.prep = preprocessing
        self.runner = model if isinstance(model, Runner) else None
        classes = self.runner.num_classes if self.runner else int(model.outputs[0].shape[-1])
        if len(self.class_names) != classes:
            raise ValueError(f"{len(self.class_names)} class names for a model with {classes} outputs")
        if not 1 <= top <= classes:
            raise ValueError(f"--top must be between 1 and {classes} (the model's classes), got {top}")
        self.top = top
        self.layer = layer
        if self.runner is not None:
            if embeddings or layer is not None:
                raise ValueError(f"--embeddings and --layer need a Keras model: the exported {self.runner.format} "
                                 f"model {self.runner.path} returns only its predictions; give the preset or "
                                 "graph it was exported from")
            self.softmax, self.net, self.embeddings, self.embedding_size = False, None, False, None
        else:
            self._keras_net(model, embeddings, layer)
        self.strategy = strategy
        self.jit_compile = jit_compile
        self.max_pixels = current_limit(max_pixels)
        self.name = name or (self.runner.path if self.runner else model.name)
        self.weights = weights
        self._digest = None
        self._forward = None
        self._step = None

    def _keras_net(self, model, embeddings: bool, layer: str | None) -> None:
        import keras  # noqa: PLC0415

        _, self.softmax, _ = _classifier(model)
        outputs = [model.outputs[0]]
        if embeddings or layer is not None:
            outputs.append(features_tensor(model, layer))
        self.embeddings = len(outputs) == 2
        self.net = keras.Model(model.inputs, outputs, name=f"{model.name}_inference")
        self.embedding_size = int(outputs[1].shape[-1]) if self.embeddings else None

    # ---- description -------------------------------------------------------
    def identity(self) -> dict:
        """What the outputs depend on (model, weights digest, classes, preprocessing, top-k,
        features, precision, pixel limit): chunks made with another identity are not resumed."""
        import keras  # noqa: PLC0415

        if self._digest is None:
            self._digest = weights_digest(self.model)
        return {
            "model": self.name,
            "weights_sha256": self._digest,
            "classes": len(self.class_names),
            "class_names_sha256": hashlib.sha256("\n".join(self.class_names).encode()).hexdigest(),
            "preprocessing": {k: v for k, v in self.prep.to_json().items() if k != "description"},
            "top": self.top,
            "features": (self.layer or "classifier input") if self.embeddings else None,
            "precision": (f"{self.runner.format} {self.runner.precision}" if self.runner
                          else keras.mixed_precision.dtype_policy().name),
            "max_pixels": self.max_pixels,
        }

    # ---- forward -----------------------------------------------------------
    def _forward_fn(self):
        if self._forward is None and self.runner is not None:
            runner = self.runner
            self._forward = lambda images: (runner(np.asarray(images)),)
        if self._forward is None:
            import tensorflow as tf  # noqa: PLC0415

            net, softmax = self.net, self.softmax

            @tf.function(jit_compile=self.jit_compile, reduce_retracing=True)
            def forward(images):
                outs = net(images, training=False)
                outs = outs if isinstance(outs, (list, tuple)) else [outs]
                scores = tf.cast(outs[0], tf.float32)
                if softmax:
                    scores = tf.nn.softmax(scores, axis=-1)
                return (scores, *(tf.cast(o, tf.float32) for o in outs[1:]))

            self._forward = forward
        return self._forward

    def distributed(self, dataset):
        """A step mapping a batch ``(images, rows, filenames)`` to ``(scores, [features,] rows,
        filenames)``, split over the strategy's replicas and gathered back in order; and the
        (distributed) batches to feed it."""
        import tensorflow as tf  # noqa: PLC0415

        strategy = self.strategy or tf.distribute.get_strategy()
        forward = self._forward_fn()
        if self.runner is not None:  # an exported model: its runtime, on the host's numpy batches
            return (lambda batch: (forward(batch[0])[0], np.asarray(batch[1]), np.asarray(batch[2]))), dataset
        if self._step is None:
            @tf.function(reduce_retracing=True)
            def gathered(images, rows):
                outs = strategy.run(forward, args=(images,))
                return (*(strategy.gather(o, axis=0) for o in outs), strategy.gather(rows, axis=0))

            def step(batch):
                images, rows, filenames = batch
                # strings cannot be gathered: the replicas' parts are joined in the same order
                names = tf.concat(strategy.experimental_local_results(filenames), axis=0)
                return (*gathered(images, rows), names)

            self._step = step
        if strategy.num_replicas_in_sync > 1:
            dataset = strategy.experimental_distribute_dataset(dataset)
        return self._step, dataset

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    # ---- chunk arrays ------------------------------------------------------
    def arrays(self, rows, scores, features=None, filenames=None, errors=None) -> dict:
        """Chunk arrays (:mod:`.columns`) of scored rows (and of unreadable ones, given ``errors``
        where ``scores`` rows are ignored)."""
        rows = np.asarray(rows, np.int64)
        n = len(rows)
        scores = np.asarray(scores, np.float32).reshape(n, -1)
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.top]
        probs = np.take_along_axis(scores, order, axis=1)
        errors = np.asarray(errors if errors is not None else [""] * n, dtype=str)
        bad = errors != ""
        order[bad] = -1
        probs[bad] = np.nan
        names = [f.decode("utf-8", "replace") if isinstance(f, bytes) else str(f)
                 for f in (filenames if filenames is not None else [""] * n)]
        out = {"row": rows, "error": errors.astype(str) if n else np.zeros(0, "U1"),
               "filename": np.asarray(names, dtype=str) if n else np.zeros(0, "U1"),
               "ids": order.astype(np.int64), "probs": probs.astype(np.float32)}
        if self.embeddings:
            feats = np.asarray(features, np.float32).reshape(n, self.embedding_size)
            feats = feats.copy()
            feats[bad] = np.nan
            out["embedding"] = feats
        return out

    def predict_images(self, images, batch_size: int | None = None):
        """``(scores, features or None)`` of preprocessed images (numpy), run in batches of exactly
        ``batch_size`` (the last one padded with blank images; None: one batch of them all): the
        batch shape a run uses everywhere, so that an image gets the same numbers on every path."""
        images = np.asarray(images, np.float32)
        n = len(images)
        size = batch_size or max(n, 1)
        scores, feats = [], []
        for lo in range(0, n, size):
            part = images[lo : lo + size]
            keep = len(part)
            if keep < size:
                part = np.concatenate([part, np.zeros((size - keep, *part.shape[1:]), np.float32)])
            outs = self._forward_fn()(part)
            scores.append(np.asarray(outs[0])[:keep])
            if self.embeddings:
                feats.append(np.asarray(outs[1])[:keep])
        if not scores:
            return (np.zeros((0, len(self.class_names)), np.float32),
                    np.zeros((0, self.embedding_size), np.float32) if self.embeddings else None)
        return np.concatenate(scores), (np.concatenate(feats) if self.embeddings else None)

    def predict_encoded(self, rows, items, batch_size: int | None = None) -> dict:
        """The per-batch function: chunk arrays of ``rows`` from their ``items``, each
        ``(encoded bytes, filename, error or None)``. Decoded with the ``tf.data`` decoding of
        every tool, in parallel; what TensorFlow cannot decode is retried with Pillow
        (:func:`inception_keras.data.images.decode_any`); what neither reads gets its reason.
        ``batch_size``: the run's (see :meth:`predict_images`)."""
        import tensorflow as tf  # noqa: PLC0415

        rows = list(rows)
        errors = [err or "" for _, _, err in items]
        todo = [i for i, (_, _, err) in enumerate(items) if not err]
        images = {}
        if todo:
            prep, limit = self.prep, self.max_pixels
            ds = tf.data.Dataset.from_tensor_slices(([items[i][0] for i in todo], todo))
            ds = ds.map(lambda e, i: (decode_and_preprocess(e, prep, limit), i), num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True).ignore_errors()
            for x, i in ds.batch(max(1, len(todo))):
                images.update(zip(np.asarray(i).tolist(), np.asarray(x)))
        for i in todo:
            if i in images:
                continue
            try:
                images[i] = np.asarray(preprocess_for_eval(decode_any(items[i][0], self.max_pixels), self.prep))
            except ValueError as e:
                errors[i] = str(e)
        size = self.prep.image_size
        batch = np.zeros((len(items), size, size, 3), np.float32)
        for i, x in images.items():
            batch[i] = x
        scores = np.zeros((len(items), len(self.class_names)), np.float32)
        feats = np.zeros((len(items), self.embedding_size or 0), np.float32)
        ok = sorted(images)
        if ok:
            s, f = self.predict_images(batch[ok], batch_size)
            scores[ok] = s
            if f is not None:
                feats[ok] = f
        return self.arrays(rows, scores, feats if self.embeddings else None, [f for _, f, _ in items], errors)
