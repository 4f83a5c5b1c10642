"""The paper's / TF-slim's recipe on a built model: BatchNorm momentum, L2 decay, which layers
train, the optimizer with its staircase schedule, the loss and the metrics."""

from __future__ import annotations

import keras

from ..weights.factory import create_model
from .config import TrainConfig
from .transfer import is_head_layer, source_model, transfer_weights


def build_model(config: TrainConfig, num_classes: int, *, load_weights: bool = True):
    """The model to train, with ``config.weights`` transferred (``load_weights``) and the
    recipe's BatchNorm momentum and L2 weight decay set. Returns (model, Transfer or None)."""
    size = config.input_size
    model = create_model(config.model, classes=num_classes, input_shape=(size, size, 3),
                         aux_logits=config.aux_logits, dropout_rate=config.dropout)
    transfer = None
    if config.weights and load_weights:
        source, offset = source_model(config.model, config.weights, size)
        transfer = transfer_weights(source, model, label_offset=offset, source_name=str(config.weights))
        del source
    apply_recipe(model, config)
    if keras.mixed_precision.dtype_policy().name != "float32":
        for name in ("Predictions", "AuxPredictions"):  # probabilities and the loss in float32
            try:
                model.get_layer(name).dtype_policy = "float32"
            except ValueError:
                pass
    return model, transfer


def apply_recipe(model, config: TrainConfig) -> None:
    """BatchNorm momentum on every BatchNormalization layer; L2 decay on conv and dense kernels.

    TF-slim's ``l2_regularizer(wd)`` adds ``wd * sum(w**2) / 2``; Keras' ``L2(l)`` adds
    ``l * sum(w**2)``, hence ``L2(wd / 2)``. The model-building code is left as it is
    (Keras' default momentum), so inference users are not affected.
    """
    reg = keras.regularizers.L2(config.weight_decay / 2.0) if config.weight_decay > 0 else None
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = config.bn_momentum
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            layer.kernel.regularizer = reg


def set_trainable(model, phase: str, bn_trainable: bool) -> int:
    """``phase="head"``: only the classifier (and auxiliary head) layers train; ``"all"``:
    every layer, with the backbone's BatchNorm layers frozen when ``bn_trainable`` is False
    (Keras then also runs them in inference mode). Returns the number of trainable weights."""
    for layer in model.layers:
        if not layer.weights:
            continue
        head = is_head_layer(layer.name)
        trainable = head or phase == "all"
        if not head and not bn_trainable and isinstance(layer, keras.layers.BatchNormalization):
            trainable = False
        layer.trainable = trainable
    return len(model.trainable_weights)


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int):
    """``effective_lr * lr_decay ** floor(step / decay_steps)``, decay_steps = lr_decay_epochs
    epochs; a function of the optimizer's step count, so a resumed run continues on it exactly."""
    lr = config.effective_lr()
    if config.lr_decay >= 1.0:
        return lr
    decay_steps = max(1, round(config.lr_decay_epochs * steps_per_epoch))
    return keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=decay_steps, decay_rate=config.lr_decay,
                                                       staircase=True)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    """The optimizer of ``config`` with :func:`learning_rate_schedule`."""
    common = {"learning_rate": learning_rate_schedule(config, steps_per_epoch)}
    if config.clip_norm:
        common["global_clipnorm"] = config.clip_norm
    eps = config.optimizer_epsilon()
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rho=config.rmsprop_rho, momentum=config.momentum, epsilon=eps, **common)
    if config.optimizer == "momentum":
        return keras.optimizers.SGD(momentum=config.momentum, **common)
    return keras.optimizers.Adam(epsilon=eps, **common)


def monitor_key(config: TrainConfig) -> str:
    """The log key of validation top-1 (Keras prefixes metrics with the output name when the
    model has several outputs)."""
    return "val_Predictions_top1" if config.aux_logits else "val_top1"


def compile_model(model, config: TrainConfig, optimizer, num_classes: int) -> None:
    """Cross-entropy with label smoothing (the auxiliary head weighted ``aux_weight``), top-1 and,
    with more than 5 classes, top-5."""
    def metrics():  # top-5 only where it can miss (more than 5 classes)
        top5 = [keras.metrics.TopKCategoricalAccuracy(k=5, name="top5")] if num_classes > 5 else []
        return [keras.metrics.CategoricalAccuracy(name="top1"), *top5]

    def loss():
        return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)

    jit = {"auto": "auto", "on": True, "off": False}[config.jit_compile]
    if config.aux_logits:
        model.compile(optimizer=optimizer, loss={"Predictions": loss(), "AuxPredictions": loss()},
                      loss_weights={"Predictions": 1.0, "AuxPredictions": config.aux_weight},
                      metrics={"Predictions": metrics()}, run_eagerly=config.run_eagerly, jit_compile=jit)
    else:
        model.compile(optimizer=optimizer, loss=loss(), metrics=metrics(), run_eagerly=config.run_eagerly,
                      jit_compile=jit)
