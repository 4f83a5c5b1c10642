"""Training and fine-tuning with ``keras.Model.fit``: the paper's / TF-slim's recipe, runs that
resume exactly after a crash, and several devices or machines through ``tf.distribute``.

    from inception_keras.training import TrainConfig, train, resume
    train(TrainConfig(model="inception_resnet_v2_slim", weights="imagenet", data="/data/flowers",
                      classes=5, epochs=10, output="runs/flowers"))
    resume("runs/flowers")                        # after a crash: continues at the last complete epoch

The command-line tool (``tools/train.py``, ``inception_keras/cli/train.py``) is a thin shell over
:func:`train` and :func:`resume`.

What a run writes into its output folder:

* ``config.json``: every option (:class:`TrainConfig`) plus what was derived from them (classes,
  steps per epoch, effective learning rate, data fingerprint, versions, the command);
* ``classes.txt``: class names in output order (``tools/predict.py --labels``);
* ``unreadable.json``: training images that could not be decoded and were left out;
* ``checkpoint.weights.h5``: the last complete epoch, written atomically: model weights, optimizer
  state (slots and iteration count, hence the learning-rate schedule position), dropout seed
  states, and the run state (epoch, best top-1) as HDF5 attributes;
* ``best/``: the epoch with the best validation top-1 as a preset folder
  (:func:`inception_keras.save_preset`, replaced atomically whenever validation top-1 improves):
  the inference graph (no auxiliary head) with the class names, the input size, the eval
  preprocessing and, in ``metadata.json``, where the weights came from (the run, its
  ``--weights``, the epoch and its validation top-1). It loads with
  ``inception_keras.load_preset("runs/x/best")``, or into a graph with
  ``create_model(name, classes=N, weights="runs/x/best")``, and fine-tunes further with
  ``weights="runs/x/best"``;
* ``history.csv`` (``keras.callbacks.CSVLogger``), ``logs/`` (TensorBoard);
* ``report.json`` / ``report.md``: the final evaluation of ``best/`` on the validation data
  (:func:`inception_keras.evaluation.evaluate_model`).

Exact resumption: the data order and every augmentation draw are functions of (seed, epoch,
example index) through stateless random ops, the learning rate is a schedule in optimizer
steps, and the checkpoint holds the optimizer's iteration count and slots and the dropout
layers' seed states. A resumed run therefore computes what the uninterrupted run would have,
up to the run-to-run nondeterminism of the backend (none was seen on CPU; ``deterministic=True``
asks TensorFlow for deterministic kernels on GPUs).

The package, one module per concern:

* ``config``: :class:`TrainConfig`, its checks, the run's file names;
* training augmentation: :mod:`inception_keras.data.augment` (TF-slim's, stateless);
* ``data``: the training and validation sets, the split, the ``tf.data`` pipelines;
* ``transfer``: the source weights (any preset too) and the new head;
* ``recipe``: BatchNorm momentum, weight decay, optimizer, schedule, loss and metrics;
* ``checkpoint``: atomic checkpoints, the ``best/`` preset, per-epoch callbacks, exact resume state;
* ``distribute``: ``tf.distribute`` strategies and the multi-worker workaround;
* ``run``: :func:`train`, :func:`resume` and the final evaluation.
"""

from ..utils.lazy import lazy_exports

# Imported on first use: the checkpoint callbacks subclass a Keras class, and the tool's --help
# should not wait for Keras.
_EXPORTS = {
    "RunCheckpoint": ".checkpoint",
    "truncate_history": ".checkpoint",
    "load_checkpoint": ".checkpoint",
    "read_checkpoint_state": ".checkpoint",
    "save_best": ".checkpoint",
    "save_checkpoint": ".checkpoint",
    "AUGMENTATIONS": ".config",
    "OPTIMIZERS": ".config",
    "RUN_FILES": ".config",
    "STRATEGIES": ".config",
    "TrainConfig": ".config",
    "TrainingError": ".config",
    "RunData": ".data",
    "eval_dataset": ".data",
    "find_unreadable": ".data",
    "load_run_data": ".data",
    "stratified_split": ".data",
    "train_dataset": ".data",
    "make_strategy": ".distribute",
    "apply_recipe": ".recipe",
    "build_model": ".recipe",
    "compile_model": ".recipe",
    "learning_rate_schedule": ".recipe",
    "make_optimizer": ".recipe",
    "monitor_key": ".recipe",
    "set_trainable": ".recipe",
    "final_evaluation": ".run",
    "resume": ".run",
    "train": ".run",
    "Transfer": ".transfer",
    "inference_view": ".transfer",
    "is_head_layer": ".transfer",
    "source_model": ".transfer",
    "transfer_weights": ".transfer",
}

__all__ = [
    "AUGMENTATIONS",
    "OPTIMIZERS",
    "RUN_FILES",
    "STRATEGIES",
    "RunCheckpoint",
    "RunData",
    "TrainConfig",
    "TrainingError",
    "Transfer",
    "apply_recipe",
    "build_model",
    "compile_model",
    "eval_dataset",
    "final_evaluation",
    "find_unreadable",
    "inference_view",
    "is_head_layer",
    "learning_rate_schedule",
    "load_checkpoint",
    "load_run_data",
    "make_optimizer",
    "make_strategy",
    "monitor_key",
    "read_checkpoint_state",
    "resume",
    "save_best",
    "save_checkpoint",
    "set_trainable",
    "source_model",
    "stratified_split",
    "train",
    "train_dataset",
    "transfer_weights",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
