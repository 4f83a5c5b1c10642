"""Checkpoints that make a run resumable exactly: model, optimizer and dropout seed states in
one atomically written file, the per-epoch callbacks, and the history kept consistent."""

from __future__ import annotations

import csv
import datetime
import json
import os
import re
import time
import warnings

import h5py
import keras
import numpy as np

from ..data.preprocessing import Preprocessing
from ..evaluation import readable_progbar
from ..utils.fileio import atomic_save, naming_path, write_json
from ..weights.format import save_preset
from .config import RUN_FILES, STATE_ATTR, TrainConfig, TrainingError
from .recipe import monitor_key


def _seed_states(model) -> dict[str, list[int]]:
    """The dropout layers' seed-generator states (not part of Keras' weights files)."""
    out = {}
    for layer in model.layers:
        for i, v in enumerate(x for x in layer.variables if "seed_generator" in x.path):
            out[f"{layer.name}/{i}"] = [int(s) for s in np.asarray(v.numpy()).ravel()]
    return out


def _restore_seed_states(model, states: dict) -> None:
    for layer in model.layers:
        for i, v in enumerate(x for x in layer.variables if "seed_generator" in x.path):
            key = f"{layer.name}/{i}"
            if key in states:
                v.assign(np.asarray(states[key], dtype=v.dtype))


def save_checkpoint(model, path: str, state: dict) -> str:
    """Model weights + optimizer state (Keras' ``save_weights`` of a compiled model holds both)
    + ``state`` as a JSON attribute, in one file that appears only when complete."""
    def save(tmp):
        model.save_weights(tmp)
        with h5py.File(tmp, "a") as f:
            f.attrs[STATE_ATTR] = json.dumps(state)

    with naming_path(path):
        return atomic_save(save, path, ".weights.h5")


def read_checkpoint_state(path: str) -> dict:
    """The run state stored in a checkpoint (epoch, iterations, best top-1, seed states...)."""
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get(STATE_ATTR)
    except OSError as e:
        raise TrainingError(f"checkpoint {path!r} cannot be read ({e}); delete it to restart the run from scratch") from e
    if raw is None:
        raise TrainingError(f"{path!r} is not a checkpoint written by the training tool (no run state in it)")
    try:
        state = json.loads(raw)
    except ValueError:
        state = None
    if not isinstance(state, dict):
        raise TrainingError(f"the run state in checkpoint {path!r} is damaged (not a JSON object); delete the "
                            f"checkpoint to restart the run from scratch")
    return state


def graph_record(config: TrainConfig, classes) -> dict:
    """What a checkpoint records about the graph its weights belong to (compared on --resume)."""
    return {"model": config.model, "classes": classes, "input_size": config.input_size,
            "aux_logits": config.aux_logits}


def load_checkpoint(model, path: str, config: str | None = None) -> dict:
    """Restore model, optimizer and seed states; check the optimizer really got its state back.

    Weights that do not fit the graph (``config``: the file that describes it) are a
    TrainingError of a few lines, without Keras' warning per object."""
    state = read_checkpoint_state(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.load_weights(path)
        except ValueError as e:
            text = str(e)
            count = re.search(r"A total of (\d+) objects", text)
            example = re.search(r"for object <\w+ name=([^,>]+)", text)
            what = (f"{count[1]} of its objects do not load" if count else text.strip().splitlines()[0][:200]) + \
                (f" (e.g. {example[1]})" if example else "")
            described = f"the graph {config} describes ({model.name})" if config else f"the graph {model.name}"
            raise TrainingError(f"the weights in {path} do not fit {described}: {what}. The file or the run's "
                                f"options were changed after the run started: restore them, or start a new run "
                                f"with --output") from None
    _restore_seed_states(model, state.get("seed_states", {}))
    got = int(model.optimizer.iterations.numpy())
    if got != state["iterations"]:
        raise TrainingError(f"the optimizer state in {path!r} did not load (iteration {got}, expected "
                            f"{state['iterations']}): was the run started with another --optimizer or Keras version?")
    return state


def _callback_base():
    return keras.callbacks.Callback


def _progbar_logger_base():
    return keras.callbacks.ProgbarLogger


class EpochLogs(_callback_base()):
    """Adds to each epoch's logs: the learning rate (of the epoch's last step), the optimizer's
    iteration count, and training images/s (the epoch's steps up to its validation; the first
    epoch of a process includes tracing)."""

    def __init__(self, schedule, images_per_epoch: int):
        super().__init__()
        self.schedule, self.images = schedule, images_per_epoch
        self.start = self.train_seconds = None

    def on_train_begin(self, logs=None):
        self.batches = 0  # steps run by this fit() call

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.train_seconds = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self.start is not None and self.train_seconds is None:
            self.train_seconds = time.perf_counter() - self.start

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        done = int(self.model.optimizer.iterations.numpy())
        lr = self.schedule(max(done - 1, 0)) if callable(self.schedule) else self.schedule
        logs["lr"] = float(np.asarray(lr))
        logs["iterations"] = done
        seconds = self.train_seconds if self.train_seconds is not None else time.perf_counter() - self.start
        logs["images_per_second"] = round(self.images / seconds, 3) if seconds > 0 else 0.0


class ReadableProgbarLogger(_progbar_logger_base()):
    """fit's progress bar with its metrics as people read them (``top-1 71.2%``, ``7.1 images/s``,
    ``iterations 3``: :func:`inception_keras.evaluation.metric_text`); the logs, history.csv and
    TensorBoard keep the numbers."""

    def _maybe_init_progbar(self):
        if self.progbar is None:
            self.progbar = readable_progbar(self.target, verbose=self.verbose, unit_name="step",
                                            stateless_metrics=set())


class RunCheckpoint(_callback_base()):
    """After every epoch: the preset folder ``best/`` when validation top-1 improved, then the
    checkpoint (model + optimizer + run state), each written atomically; optionally a copy of
    the epoch's weights. A kill at any point leaves the previous complete epoch resumable.

    ``labels``: the class names in output order, or (synset, name) pairs, for ``best/``.
    """

    def __init__(self, output: str, config: TrainConfig, view, state: dict, write: bool = True, labels=None):
        super().__init__()
        self.output, self.config, self.view, self.state, self.write = output, config, view, state, write
        self.labels = labels

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        done = epoch + 1
        top1 = logs.get(monitor_key(self.config))
        if top1 is not None and (self.state.get("best_val_top1") is None or top1 > self.state["best_val_top1"]):
            if self.write:
                save_best(self.view, self.output, self.config, self.labels, done, float(top1))
            self.state["best_val_top1"] = float(top1)
            self.state["best_epoch"] = done
        if self.write and self.config.save_every_epoch:
            path = os.path.join(self.output, RUN_FILES["epochs"], f"epoch-{done:03d}.weights.h5")
            with naming_path(path):
                atomic_save(lambda tmp: self.view.save_weights(tmp), path, ".weights.h5")
        self.state.update({
            "epoch": done,
            "iterations": int(self.model.optimizer.iterations.numpy()),
            "seed_states": _seed_states(self.model),
            "logs": {k: float(v) for k, v in logs.items() if np.ndim(v) == 0},
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        })
        if self.write:
            save_checkpoint(self.model, os.path.join(self.output, RUN_FILES["checkpoint"]), self.state)
            info = {k: v for k, v in self.state.items() if k != "seed_states"}
            path = os.path.join(self.output, RUN_FILES["checkpoint_info"])
            with naming_path(path):
                write_json(path, info)


def save_best(view, output: str, config: TrainConfig, labels, epoch: int, top1: float) -> str:
    """Write ``view`` (the inference graph) as the preset folder ``<output>/best``, replacing the
    previous one atomically: the run's class names, its input size and eval preprocessing, and
    in ``metadata.json`` where the weights came from (the run, its ``--weights``, the epoch)."""
    source = {"uri": os.path.abspath(output), "kind": "training run", "model": config.model,
              "weights": None if config.weights is None else str(config.weights), "epoch": epoch,
              "monitor": monitor_key(config), "val_top1": top1}
    path = os.path.join(output, RUN_FILES["best"])
    with naming_path(path):
        return save_preset(view, path, labels=labels,
                           preprocessing=Preprocessing("slim", config.input_size, config.crop_fraction),
                           sources=[source], overwrite=True)


def truncate_history(path: str, first_epoch: int) -> None:
    """Drop CSV rows of epochs that will be run again (written before a kill, after the checkpoint)."""
    if not os.path.isfile(path):
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "epoch" not in rows[0]:
        return
    col = rows[0].index("epoch")
    keep = [rows[0]] + [r for r in rows[1:] if r and int(float(r[col])) < first_epoch]
    if len(keep) == len(rows):
        return

    def save(tmp):
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(keep)

    with naming_path(path):
        atomic_save(save, path, ".csv")
