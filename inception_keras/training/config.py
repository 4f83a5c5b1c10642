"""The options of a training run (:class:`TrainConfig`), their checks, and the names of the
files a run writes."""

from __future__ import annotations

import dataclasses
import json
import os


RUN_FILES = {
    "config": "config.json",
    "classes": "classes.txt",
    "unreadable": "unreadable.json",
    "checkpoint": "checkpoint.weights.h5",
    "checkpoint_info": "checkpoint.json",
    "best": "best",  # a preset folder (inception_keras.save_preset): the best epoch's inference graph
    "history": "history.csv",
    "logs": "logs",
    "epochs": "epochs",
}
STATE_ATTR = "inception_keras_train_state"
OPTIMIZERS = ("rmsprop", "momentum", "adam")
STRATEGIES = ("none", "mirrored", "multiworker", "tpu")
AUGMENTATIONS = ("inception", "inception-fast", "none")
HEAD_PREFIXES = ("Logits__", "AuxLogits__")


class TrainingError(ValueError):
    """A run that cannot start or continue; the message says what to change."""


_WHAT_TO_DO = {
    "config": "it holds the run's options: restore it from a backup, or start a new run with --output",
    "checkpoint_info": "it is a readable copy of the state in checkpoint.weights.h5: delete it and resume again "
                       "(the run continues from checkpoint.weights.h5 and writes it anew)",
    "unreadable": "it lists the training images left out: delete it and resume again (they are checked anew)",
}


def read_run_file(output: str, key: str) -> dict:
    """The JSON object in the run file ``RUN_FILES[key]`` of ``output``; TrainingError naming the
    file and what to do when it cannot be read or is not a JSON object."""
    path = os.path.join(output, RUN_FILES[key])
    todo = _WHAT_TO_DO.get(key, "restore it, or start a new run with --output")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise TrainingError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); {todo}") from None
    except UnicodeDecodeError:
        raise TrainingError(f"{path} is not a text file (not UTF-8); {todo}") from None
    except OSError as e:
        raise TrainingError(f"{path} cannot be read ({e.strerror or e}); {todo}") from None
    if not isinstance(data, dict):
        raise TrainingError(f"{path} holds a JSON {type(data).__name__}, not an object; {todo}")
    return data


# =========================================================================== #
# Configuration
# =========================================================================== #
@dataclasses.dataclass
class TrainConfig:
    """Every option of a run; the defaults are the paper's / TF-slim's recipe.

    ``weights``: None (from scratch), ``"imagenet"`` (or another published name), a Keras
    weights file or a TF-slim checkpoint. ``classes``: None takes the number of classes of the
    data. ``batch_size`` is the global batch, split over the replicas. The learning rate is
    ``lr`` as given; with ``lr_scaling="linear"`` (``--scale-lr``) it is scaled by
    ``batch_size / lr_reference_batch``. ``weight_decay`` is TF-slim's ``l2_regularizer``
    factor (``wd * sum(w**2) / 2``) on every conv and dense kernel.
    """

    output: str = ""
    data: str = ""
    model: str = "inception_v4"
    weights: str | None = None
    classes: int | None = None
    input_size: int = 299
    aux_logits: bool = False
    dropout: float = 0.2
    # data
    labels: str | None = None
    val_data: str | None = None
    val_labels: str | None = None
    val_fraction: float = 0.1
    augment: str = "inception"
    crop_fraction: float = 0.875
    image_check: bool = True
    shuffle_buffer: int = 10000
    max_pixels: int | None = None  # images with more pixels are unreadable (None: the default limit, 0: none)
    steps_per_epoch: int | None = None
    # recipe
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "rmsprop"
    lr: float = 0.045
    lr_scaling: str = "none"
    lr_reference_batch: int = 32
    lr_decay: float = 0.94
    lr_decay_epochs: float = 2.0
    momentum: float = 0.9
    rmsprop_rho: float = 0.9
    epsilon: float | None = None  # None: 1.0 for RMSProp (the paper), Keras' default for Adam
    clip_norm: float | None = None
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    aux_weight: float = 0.4
    bn_momentum: float = 0.9997
    # fine-tuning
    freeze_backbone_epochs: int = 0
    bn_trainable: bool = True
    # devices
    strategy: str = "none"
    tpu: str | None = None
    sync_bn: str = "auto"
    mixed_precision: str | None = None
    jit_compile: str = "auto"
    run_eagerly: bool = False
    deterministic: bool = False
    seed: int = 0
    # outputs
    save_every_epoch: bool = False
    final_eval: bool = True
    eval_batch_size: int | None = None
    verbose: int = 1

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict, source: str | None = None) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        where = source or "the saved run configuration"
        if unknown:
            raise TrainingError(f"{where} has options this version does not know: {unknown}")
        return cls(**data)

    def check(self) -> None:
        """Raise TrainingError for option values that cannot work, before anything is built."""
        from ..weights.factory import list_models  # noqa: PLC0415

        def need(cond, message):
            if not cond:
                raise TrainingError(message)

        need(bool(self.output), "no output folder: pass --output DIR (checkpoints, logs and the report go there)")
        need(bool(self.data), "no training data: pass --data DIR (class folders, a folder + label file, or TFRecords)")
        need(self.model in list_models(), f"unknown model {self.model!r}; choose one of {', '.join(list_models())}")
        need(self.classes is None or self.classes >= 2, f"--classes must be at least 2, got {self.classes}")
        need(self.input_size >= 75, f"--input-size must be at least 75, got {self.input_size}")
        need(not self.aux_logits or self.input_size >= 299,
             f"--aux-logits needs --input-size 299 or more (the auxiliary head's 5x5 'valid' conv), got {self.input_size}")
        need(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        need(0.0 <= self.val_fraction < 1.0, f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        need(self.augment in AUGMENTATIONS, f"--augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")
        need(0.0 < self.crop_fraction <= 1.0, f"--crop-fraction must be in (0, 1], got {self.crop_fraction}")
        need(self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}")
        need(self.batch_size >= 1, f"--batch-size must be positive, got {self.batch_size}")
        need(self.steps_per_epoch is None or self.steps_per_epoch >= 1,
             f"--steps-per-epoch must be positive, got {self.steps_per_epoch}")
        need(self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        need(self.lr > 0, f"--lr must be positive, got {self.lr}")
        need(self.lr_scaling in ("linear", "none"), f"--lr-scaling must be 'linear' or 'none', got {self.lr_scaling!r}")
        need(self.lr_reference_batch >= 1, f"--lr-reference-batch must be positive, got {self.lr_reference_batch}")
        need(0.0 < self.lr_decay <= 1.0, f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        need(self.lr_decay_epochs > 0, f"--lr-decay-epochs must be positive, got {self.lr_decay_epochs}")
        need(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        need(0.0 <= self.label_smoothing < 1.0, f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        need(0.0 <= self.bn_momentum < 1.0, f"--bn-momentum must be in [0, 1), got {self.bn_momentum}")
        need(0 <= self.freeze_backbone_epochs <= self.epochs,
             f"--freeze-backbone-epochs must be between 0 and --epochs ({self.epochs}), got {self.freeze_backbone_epochs}")
        need(self.strategy in STRATEGIES, f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        need(self.sync_bn in ("auto", "on", "off"), f"--sync-bn must be auto, on or off, got {self.sync_bn!r}")
        need(self.mixed_precision in (None, "auto", "bfloat16", "float16"),
             f"--mixed-precision must be auto, bfloat16 or float16, got {self.mixed_precision!r}")
        need(self.jit_compile in ("auto", "on", "off"), f"--jit-compile must be auto, on or off, got {self.jit_compile!r}")
        need(self.shuffle_buffer >= 1, f"--shuffle-buffer must be positive, got {self.shuffle_buffer}")

    # ---- derived values ---------------------------------------------------
    def effective_lr(self) -> float:
        """The initial learning rate after scaling with the global batch."""
        if self.lr_scaling == "linear":
            return self.lr * self.batch_size / self.lr_reference_batch
        return self.lr

    def optimizer_epsilon(self) -> float:
        if self.epsilon is not None:
            return self.epsilon
        return 1.0 if self.optimizer == "rmsprop" else 1e-7
