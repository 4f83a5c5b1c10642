"""A training run from start to end: :func:`train`, :func:`resume`, the epochs with their
fine-tuning phases, and the final evaluation of the best weights."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings

import keras

from ..data.images import pixel_limit
from ..data.preprocessing import Preprocessing
from ..profile import mixed_precision_policy
from ..utils.fileio import naming_path, remove_stale_temporaries, write_json, write_text
from ..version import __version__
from ..weights.schema import WEIGHTS_FILE
from .checkpoint import (
    EpochLogs,
    ReadableProgbarLogger,
    RunCheckpoint,
    graph_record,
    load_checkpoint,
    read_checkpoint_state,
    truncate_history,
)
from .config import RUN_FILES, TrainConfig, TrainingError, read_run_file
from .data import eval_dataset, load_run_data, train_dataset
from .distribute import is_chief, make_strategy, multiworker_build_workaround
from .recipe import build_model, compile_model, learning_rate_schedule, make_optimizer, set_trainable
from .transfer import inference_view


def _derived(config, run_data, steps, strategy, policy, transfer_note) -> dict:
    import tensorflow as tf  # noqa: PLC0415

    return {
        "classes": run_data.num_classes,
        "class_names": run_data.class_names,
        "train_examples": len(run_data.train) if run_data.train.layout != "tfrecord" else None,
        "val_examples": len(run_data.val) if run_data.val.layout != "tfrecord" else None,
        "unreadable_training_images": len(run_data.unreadable),
        "validation": run_data.split,
        "data_fingerprint": run_data.fingerprint(),
        "steps_per_epoch": steps,
        "global_batch": config.batch_size,
        "replicas": strategy.num_replicas_in_sync,
        "per_replica_batch": config.batch_size / strategy.num_replicas_in_sync,
        "effective_lr": config.effective_lr(),
        "lr_decay_steps": max(1, round(config.lr_decay_epochs * steps)),
        "dtype_policy": policy,
        "weights": transfer_note,
        "versions": {"inception_keras": __version__, "keras": keras.__version__, "tensorflow": tf.__version__},
    }


def _run_exists(output: str) -> bool:
    return os.path.isfile(os.path.join(output, RUN_FILES["config"]))


def resume(output: str, *, epochs: int | None = None, log=print, command: str | None = None,
           verbose: int | None = None) -> dict:
    """Continue the run in ``output`` from its last complete epoch, with its saved configuration
    (``epochs`` may extend it; ``verbose`` overrides how fit shows progress). A run that has
    already finished its epochs is left as it is: nothing is trained or evaluated again."""
    path = os.path.join(output, RUN_FILES["config"])
    if not os.path.isdir(output):
        raise TrainingError(f"--resume {output!r}: no such folder; start a run with --output {output}")
    if not os.path.isfile(path):
        raise TrainingError(f"--resume {output!r}: the folder holds no training run (no {RUN_FILES['config']}); "
                            f"start one with --output {output} and the options of the run")
    saved = read_run_file(output, "config")
    if not isinstance(saved.get("config"), dict):
        raise TrainingError(f"{path} has no \"config\" object (the run's options): it was not written by the training "
                            f"tool or was edited; restore it, or start a new run with --output")
    config = TrainConfig.from_json(saved["config"], source=path)
    config.output = output
    check_recorded_graph(output, config, saved)  # before anything is built or loaded
    if epochs is not None:
        if epochs < config.epochs:
            raise TrainingError(f"--epochs {epochs} is fewer than the run's {config.epochs}; it can only be extended")
        config.epochs = epochs
    if verbose is not None:
        config.verbose = verbose
    done = _finished(output, saved, config)
    if done is not None:
        log(f"{output} has already finished its {config.epochs} epochs: nothing to do (its report is "
            f"{os.path.join(output, 'report.json')}); pass --epochs N to train further")
        return done
    return train(config, resume=True, log=log, command=command, saved=saved)


def train(config: TrainConfig, *, resume: bool = False, log=print, command: str | None = None,
          saved: dict | None = None) -> dict:
    """Run (or, with ``resume``, continue) training as ``config`` says; return a summary dict
    (``history``, ``initial_epoch``, ``iterations``, ``best_val_top1``, ``report`` ...)."""
    with pixel_limit(config.max_pixels):  # images over it are unreadable, in every pass over the data
        return _train(config, resume=resume, log=log, command=command, saved=saved)


def _train(config: TrainConfig, *, resume: bool, log, command: str | None, saved: dict | None) -> dict:
    if keras.backend.backend() != "tensorflow":
        raise TrainingError(f"training uses tf.data and tf.distribute: set KERAS_BACKEND=tensorflow "
                            f"(it is {keras.backend.backend()!r})")
    config.check()
    output = config.output
    if resume and saved is None:
        saved = read_run_file(output, "config")
    import tensorflow as tf  # noqa: PLC0415

    strategy = make_strategy(config)  # first: multi-worker collectives need it before other ops
    chief = is_chief(strategy)  # the one that writes (the other workers may start after it did)
    if chief and not resume and _run_exists(output):
        raise TrainingError(f"{output!r} already holds a run: continue it with --resume {output}, "
                            f"or pass another --output")
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    # ---- data ------------------------------------------------------------
    unreadable_path = os.path.join(output, RUN_FILES["unreadable"])
    known = None
    if resume and os.path.isfile(unreadable_path):
        known = read_run_file(output, "unreadable").get("skipped")
    run_data = load_run_data(config, log=log, unreadable=known)
    steps = config.steps_per_epoch
    if not steps:  # (TFRecords are counted by reading them once; --steps-per-epoch saves that)
        n_train = len(run_data.train) - len(run_data.bad_indices)
        steps = max(1, n_train // config.batch_size)
        if n_train < config.batch_size:
            log(f"note: {n_train} training images is fewer than one batch of {config.batch_size}; "
                f"each epoch is one batch, images repeating")

    # ---- precision, model, optimizer --------------------------------------
    policy = mixed_precision_policy(config.mixed_precision)
    previous_policy = keras.mixed_precision.dtype_policy().name
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        return _fit(config, resume, saved, strategy, chief, run_data, steps, policy, log, command)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)


def _fit(config, resume, saved, strategy, chief, run_data, steps, policy, log, command):
    """Build (or restore) the model, write or check the run's files, train the epochs left and
    evaluate the best weights; return the summary of :func:`train`."""
    output = config.output
    ckpt_path = os.path.join(output, RUN_FILES["checkpoint"])
    has_ckpt = resume and os.path.isfile(ckpt_path)
    model, transfer = _build_for_run(config, strategy, run_data, steps, has_ckpt)
    transfer_note = transfer.describe() if transfer else (
        f"from {RUN_FILES['checkpoint']}" if has_ckpt else ("random initialisation" if not config.weights else None))
    if transfer:
        log(transfer.describe())
    derived = _derived(config, run_data, steps, strategy, policy, transfer_note)
    _write_run_files(config, resume, saved, chief, run_data, derived, command)
    state = _restore_state(model, config, resume, ckpt_path if has_ckpt else None, run_data, log)
    initial_epoch = state["epoch"]
    start_iterations = int(model.optimizer.iterations.numpy())
    log(f"{config.model}: {model.count_params():,} parameters, {run_data.num_classes} classes, "
        f"input {config.input_size}x{config.input_size}; {strategy.num_replicas_in_sync} replica(s), global batch "
        f"{config.batch_size}, {steps} steps per epoch, {lr_note(config)}; "
        f"validation: {run_data.split}")

    view = inference_view(model)
    history = {}
    if initial_epoch < config.epochs:
        history = _train_epochs(model, view, config, resume, strategy, chief, run_data, steps, state, log)
    else:
        log(f"{output} has already finished its {config.epochs} epochs: nothing to do (its report is "
            f"{os.path.join(output, 'report.json')}); pass --epochs N to train further")

    result = {
        "output": output,
        "initial_epoch": initial_epoch,
        "start_iterations": start_iterations,
        "iterations": int(model.optimizer.iterations.numpy()),
        "epochs": config.epochs,
        "steps_per_epoch": steps,
        "history": history,
        "best_val_top1": state.get("best_val_top1"),
        "best_epoch": state.get("best_epoch"),
        "unreadable": run_data.unreadable,
        "transfer": dataclasses.asdict(transfer) if transfer else None,
        "report": None,
    }
    finished = resume and initial_epoch >= config.epochs
    if finished:
        result["report"] = _saved_report(output)
    elif config.final_eval:
        result["report"] = final_evaluation(model, view, config, run_data, state, strategy, chief, log, command)
    return result


def _build_for_run(config, strategy, run_data, steps, has_ckpt: bool):
    """The compiled model under ``strategy`` (its source weights loaded unless a checkpoint will
    be), with synchronized BatchNorm as ``--sync-bn`` says and the optimizer built; and the transfer."""
    with strategy.scope():
        model, transfer = build_model(config, run_data.num_classes, load_weights=not has_ckpt)
        replicas = strategy.num_replicas_in_sync
        if replicas > 1 and config.sync_bn in ("auto", "on") or config.sync_bn == "on":
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True
        compile_model(model, config, make_optimizer(config, steps), run_data.num_classes)
        model.optimizer.build(model.trainable_variables)  # every variable, whatever is frozen later
    return model, transfer


def _write_run_files(config, resume, saved, chief, run_data, derived, command) -> None:
    """A new run's files (config, classes, unreadable images), or, on resume, the saved run
    checked against the data of today (and its epoch count extended); only the chief writes."""
    output = config.output
    if resume:
        before = saved.get("derived") or {}
        for key in ("classes", "class_names", "data_fingerprint", "steps_per_epoch"):
            if before.get(key) != derived[key]:
                raise TrainingError(
                    f"cannot resume {output!r}: {key} was {_short(before.get(key))} when the run started and is "
                    f"{_short(derived[key])} now (the data changed?); restore the data or start a new run")
        derived["weights"] = before.get("weights")
    if not chief:
        return
    with naming_path(output):
        os.makedirs(output, exist_ok=True)
    # From a kill during a write: temporary files, and folders (best/ being replaced).
    remove_stale_temporaries(output, restore=RUN_FILES["best"], own_folder=True)
    if not resume:
        _write(write_json, output, "config", {"config": config.to_json(), "derived": derived, "command": command})
        _write(write_text, output, "classes", "\n".join(run_data.display_names) + "\n")
        _write(write_json, output, "unreadable", {"skipped": run_data.unreadable})
    elif config.epochs != saved["config"]["epochs"]:
        saved["config"]["epochs"] = config.epochs
        _write(write_json, output, "config", saved)


def _restore_state(model, config, resume: bool, ckpt_path: str | None, run_data, log) -> dict:
    """The run's state (epoch, iterations, best top-1), from the checkpoint when there is one
    (its weights and optimizer loaded into ``model``), with the graph record it is checked by."""
    state = {"epoch": 0, "iterations": 0, "best_val_top1": None, "best_epoch": None}
    if ckpt_path is not None:
        state = load_checkpoint(model, ckpt_path, config=os.path.join(config.output, RUN_FILES["config"]))
        log(f"resuming {config.output} at epoch {state['epoch'] + 1}/{config.epochs} from {RUN_FILES['checkpoint']} "
            f"(optimizer iteration {state['iterations']}, best val top-1 {state['best_val_top1']})")
    elif resume:
        log(f"resuming {config.output}: no complete epoch yet, starting at epoch 1/{config.epochs}")
    state["graph"] = graph_record(config, run_data.num_classes)  # checked on --resume before loading
    return state


def _phases(config, initial_epoch: int) -> list[tuple[str, int, int]]:
    """(what trains, first epoch, end epoch) of the epochs left: the head alone while
    ``--freeze-backbone-epochs`` lasts, then every layer."""
    phases = []
    if initial_epoch < config.freeze_backbone_epochs:
        phases.append(("head", initial_epoch, config.freeze_backbone_epochs))
    if config.freeze_backbone_epochs < config.epochs:
        phases.append(("all", max(initial_epoch, config.freeze_backbone_epochs), config.epochs))
    return phases


def _train_epochs(model, view, config, resume, strategy, chief, run_data, steps, state, log) -> dict:
    """Train from ``state["epoch"]`` to ``config.epochs``, phase by phase; the history (lists per metric)."""
    output = config.output
    epoch_logs = EpochLogs(learning_rate_schedule(config, steps), steps * config.batch_size)
    history_path = os.path.join(output, RUN_FILES["history"])
    if chief and resume:
        truncate_history(history_path, state["epoch"])

    def callbacks(append):
        out = [epoch_logs, ReadableProgbarLogger()]  # first: the loggers after it see its values
        if chief:
            out += [_CSVLogger(history_path, append=append),
                    keras.callbacks.TensorBoard(os.path.join(output, RUN_FILES["logs"]), write_graph=False)]
        return out + [RunCheckpoint(output, config, view, state, write=chief,  # last: after the CSV row
                                    labels=best_labels(run_data))]

    val_ds = eval_dataset(run_data.val, config, run_data.num_classes)
    history = {}
    for n, (phase, first, end) in enumerate(_phases(config, state["epoch"])):
        ds = _start_phase(model, config, strategy, run_data, steps, phase, first, end, log)
        with warnings.catch_warnings():
            # Keras warns at the end of every pass over a dataset of unknown length (the validation
            # data: undecodable files are dropped); the training data is checked below instead.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            h = model.fit(ds, epochs=end, initial_epoch=first, steps_per_epoch=steps, validation_data=val_ds,
                          callbacks=callbacks(append=resume or n > 0), verbose=config.verbose, shuffle=False)
        # (counted in batches: with float16 loss scaling, skipped steps do not advance the optimizer)
        if not model.stop_training and epoch_logs.batches != (end - first) * steps:
            raise TrainingError(f"the training data ran out after {epoch_logs.batches} of {(end - first) * steps} "
                                f"steps; is --steps-per-epoch larger than the data?")
        for k, v in h.history.items():
            history.setdefault(k, []).extend(float(x) for x in v)
    return history


def _start_phase(model, config, strategy, run_data, steps, phase: str, first: int, end: int, log):
    """Make the layers of ``phase`` trainable, compile again, say so, and return its training data."""
    with strategy.scope():
        n_trainable = set_trainable(model, phase, config.bn_trainable)
        compile_model(model, config, model.optimizer, run_data.num_classes)
    if phase == "head" or not config.bn_trainable or config.freeze_backbone_epochs:
        log(f"epochs {first + 1}-{end}: training {'the head only' if phase == 'head' else 'every layer'}"
            f"{'' if config.bn_trainable or phase == 'head' else ', BatchNorm frozen'} "
            f"({n_trainable} trainable weights)")
    ds = train_dataset(run_data, config, steps, first, end)
    multiworker_build_workaround(model, strategy, ds.element_spec)
    return ds


def _csv_logger_class():
    class CSVLogger(keras.callbacks.CSVLogger):
        """Keras' CSVLogger whose write errors name history.csv (``No space left on device`` alone does not)."""

        def on_train_begin(self, logs=None):
            with naming_path(self.filename):
                super().on_train_begin(logs)

        def on_epoch_end(self, epoch, logs=None):
            with naming_path(self.filename):
                super().on_epoch_end(epoch, logs)

        def on_train_end(self, logs=None):
            with naming_path(self.filename):
                super().on_train_end(logs)

    return CSVLogger


def _CSVLogger(path, append):  # noqa: N802 - builds the class on first use (Keras is imported late)
    return _csv_logger_class()(path, append=append)


def _write(writer, output: str, key: str, data) -> str:
    path = os.path.join(output, RUN_FILES[key])
    with naming_path(path):
        return writer(path, data)


def check_recorded_graph(output: str, config: TrainConfig, saved: dict) -> None:
    """TrainingError, naming the file that disagrees, when the graph ``config.json`` describes
    (model, classes, input size, auxiliary head) is not the one the checkpoint was written by:
    an edited ``config.json`` (or ``checkpoint.json``) would otherwise make Keras load 282
    mismatched objects. Checkpoints of earlier versions record no graph: nothing to compare."""
    path = os.path.join(output, RUN_FILES["checkpoint"])
    if not os.path.isfile(path):
        return
    recorded = read_checkpoint_state(path).get("graph")
    if not isinstance(recorded, dict):
        return
    classes = (saved.get("derived") or {}).get("classes")
    described = graph_record(config, classes)
    config_path = os.path.join(output, RUN_FILES["config"])
    differ = [f"{key} {described.get(key)!r} (the checkpoint's: {value!r})" for key, value in recorded.items()
              if described.get(key) != value]
    if differ:
        raise TrainingError(
            f"cannot resume {output!r}: {config_path} does not describe the graph {path} was written by: it says "
            f"{'; '.join(differ)}. It was edited after the run started: restore those values in "
            f"{RUN_FILES['config']}, or start a new run with --output (the options of a run cannot change)")
    info_path = os.path.join(output, RUN_FILES["checkpoint_info"])
    if os.path.isfile(info_path):
        copy = read_run_file(output, "checkpoint_info").get("graph")
        if isinstance(copy, dict) and copy != recorded:
            raise TrainingError(
                f"cannot resume {output!r}: {info_path} records another graph ({_short(copy)}) than {path} "
                f"({_short(recorded)}); it is a readable copy of the checkpoint's state: delete it and resume again")


def best_labels(run_data) -> list:
    """The labels of ``best/``: the class names in output order, or (synset, name) pairs for
    ImageNet synsets (whose readable names differ from the synsets)."""
    if run_data.class_names == run_data.display_names:
        return list(run_data.class_names)
    return [list(pair) for pair in zip(run_data.class_names, run_data.display_names)]


def final_evaluation(model, view, config, run_data, state, strategy, chief, log, command):
    """Score the best epoch (``best/``, the run's preset) on the validation data with the
    evaluation tool's code and write report.json / report.md into the output folder."""
    from ..evaluation import evaluate_model, format_text, write_report  # noqa: PLC0415

    best = os.path.join(config.output, RUN_FILES["best"], WEIGHTS_FILE)
    which = f"{RUN_FILES['best']}/ (epoch {state.get('best_epoch')})"
    if os.path.isfile(best):
        view.load_weights(best)
    else:
        which = f"the weights after epoch {state.get('epoch')} (no {RUN_FILES['best']}/: no validation top-1 yet)"
    log(f"evaluating {which} on the validation data ...")
    prep = Preprocessing("slim", config.input_size, config.crop_fraction)
    report = evaluate_model(view, run_data.val, prep, batch_size=config.eval_batch_size or config.batch_size,
                            progress=config.verbose == 1, command=command, pipeline_batches=0, strategy=strategy,
                            extra={"model": config.model, "weights": which, "training_run": config.output,
                                   "strategy": config.strategy, "replicas": strategy.num_replicas_in_sync})
    if chief:
        json_path, md_path = write_report(report, config.output)
        log(format_text(report))
        log(f"wrote {json_path} and {md_path}")
    return report


def lr_note(config: TrainConfig) -> str:
    """The initial learning rate and how it was obtained, for the log."""
    if config.lr_scaling == "linear":
        return (f"learning rate {config.effective_lr():g} (--lr {config.lr:g} scaled by batch {config.batch_size} / "
                f"{config.lr_reference_batch}: --scale-lr)")
    return f"learning rate {config.lr:g} (--lr as given; --scale-lr scales it with the batch)"


def _finished(output: str, saved: dict, config: TrainConfig) -> dict | None:
    """The summary of a run whose checkpoint already holds every epoch (None otherwise)."""
    path = os.path.join(output, RUN_FILES["checkpoint_info"])
    if not os.path.isfile(path):
        return None
    info = read_run_file(output, "checkpoint_info")
    if not isinstance(info.get("epoch", 0), int):
        raise TrainingError(f"{path}: \"epoch\" is {info.get('epoch')!r}, not a number; it is a readable copy of the "
                            f"checkpoint's state: delete it and resume again")
    if info.get("epoch", 0) < config.epochs:
        return None
    return {
        "output": output, "initial_epoch": info["epoch"], "start_iterations": info.get("iterations"),
        "iterations": info.get("iterations"), "epochs": config.epochs,
        "steps_per_epoch": saved.get("derived", {}).get("steps_per_epoch"), "history": {},
        "best_val_top1": info.get("best_val_top1"), "best_epoch": info.get("best_epoch"), "unreadable": [],
        "transfer": None, "report": _saved_report(output),
    }


def _saved_report(output: str) -> dict | None:
    path = os.path.join(output, "report.json")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None  # the summary goes without it; the run is finished all the same


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."
