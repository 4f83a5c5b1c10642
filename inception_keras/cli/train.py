"""Train or fine-tune a model with keras fit (the paper's / TF-slim's recipe), resumably.

    python tools/train.py --model inception_resnet_v2 --variant slim --weights imagenet --data /data/flowers \\
        --classes 5 --epochs 10 --output runs/flowers
    python tools/train.py --resume runs/flowers                  # continue after a crash or a kill
    python tools/train.py --resume runs/flowers --epochs 20      # train further
    python tools/train.py --model inception_v4 --data /data/imagenet-tfrecords --epochs 100 --batch-size 256 \\
        --strategy mirrored --mixed-precision --aux-logits --output runs/v4
    python tools/train.py --model inception_resnet_v2_slim --weights imagenet --data /data/flowers --classes 5 \\
        --freeze-backbone-epochs 2 --no-bn-trainable --lr 0.01 --output runs/flowers-ft

--data is a folder with one sub-folder per class, a folder of images with a label file
(--labels), or TF-slim/TPU TFRecord shards (train-* and validation-*). Validation: --val-data,
or a stratified, seeded --val-fraction of --data. The output folder receives config.json,
classes.txt, checkpoint.weights.h5 (every epoch), best/ (the best validation top-1 as a preset
folder: weights, class names, input size, preprocessing), history.csv, logs/ (TensorBoard) and
report.json/report.md (final evaluation). --weights also takes a preset, such as another run's
best/ folder, to fine-tune from it.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..training.config import read_run_file
from . import options
from ..training import AUGMENTATIONS, OPTIMIZERS, RUN_FILES, STRATEGIES, TrainConfig, TrainingError

_D = {f.name: f.default for f in TrainConfig.__dataclass_fields__.values()}


def build_parser() -> argparse.ArgumentParser:
    parser = options.make_parser("train", __doc__)
    _add_run_and_model(parser)
    _add_data(parser)
    _add_recipe(parser)
    _add_devices_and_outputs(parser)
    return parser


def _add_run_and_model(parser) -> None:
    run = parser.add_argument_group("run")
    run.add_argument("--output", help="folder of the run (checkpoints, logs, report); must not hold another run")
    run.add_argument("--resume", metavar="DIR",
                     help="continue the run in DIR from its last complete epoch, with its saved options "
                          "(only --epochs may be given, to extend it)")
    model = options.add_model_options(
        parser, model_default="inception_v4", classes=None, labels=False,
        classes_help="classifier outputs (default: the classes of the data)")
    model.add_argument("--aux-logits", action="store_true",
                       help=f"train the auxiliary head too, its loss weighted --aux-weight ({_D['aux_weight']})")
    model.add_argument("--dropout", type=float, default=_D["dropout"], help="before the classifier (default 0.2)")


def _add_data(parser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="training images: class folders, folder + label file, or TFRecord shards")
    data.add_argument("--labels", help="label file for a flat --data folder ('filename label' lines, the label "
                                       "last: a synset, a 0-based ImageNet index or a class name)")
    data.add_argument("--val-data", help="validation images (any layout, the same class names)")
    data.add_argument("--val-labels", help="label file for a flat --val-data folder")
    data.add_argument("--val-fraction", type=float, default=_D["val_fraction"],
                      help="without --val-data: this stratified fraction of --data, drawn with --seed (default 0.1)")
    data.add_argument("--augment", default=_D["augment"], choices=AUGMENTATIONS,
                      help="inception: TF-slim's preprocess_for_train (random crop 5-100%% of the area, random "
                           "resize method, flip, colour distortion in random order; default); inception-fast: "
                           "slim's fast_mode; none: the evaluation crop")
    data.add_argument("--crop-fraction", type=options.fraction, default=_D["crop_fraction"],
                      help="central crop of the validation (and --augment none) images (default 0.875)")
    data.add_argument("--no-image-check", dest="image_check", action="store_false",
                      help="skip decoding every training image once at the start (unreadable ones are then "
                           "skipped silently)")
    options.add_max_pixels(data)
    data.add_argument("--shuffle-buffer", type=int, default=_D["shuffle_buffer"],
                      help="TFRecords only: shuffle buffer (image folders are fully permuted every epoch)")
    data.add_argument("--steps-per-epoch", type=int, help="default: training images // batch size")


def _add_recipe(parser) -> None:
    recipe = parser.add_argument_group("recipe (defaults: the paper and TF-slim)")
    recipe.add_argument("--epochs", type=int, help=f"default {_D['epochs']}")
    options.add_batch_size(recipe, _D["batch_size"], "global batch, split over the replicas (default 32)")
    recipe.add_argument("--optimizer", default=_D["optimizer"], choices=OPTIMIZERS, help="default rmsprop")
    recipe.add_argument("--lr", type=float, default=_D["lr"],
                        help="the initial learning rate, used as given (default 0.045, the paper's)")
    recipe.add_argument("--scale-lr", dest="lr_scaling", action="store_const", const="linear",
                        default=_D["lr_scaling"],
                        help="scale --lr linearly with the batch: lr * batch-size / lr-reference-batch")
    recipe.add_argument("--lr-reference-batch", type=int, default=_D["lr_reference_batch"],
                        help="the batch --lr is meant for, with --scale-lr (default 32)")
    recipe.add_argument("--lr-decay", type=float, default=_D["lr_decay"],
                        help="factor applied every --lr-decay-epochs, staircase (default 0.94; 1: constant)")
    recipe.add_argument("--lr-decay-epochs", type=float, default=_D["lr_decay_epochs"], help="default 2")
    recipe.add_argument("--momentum", type=float, default=_D["momentum"], help="RMSProp/SGD momentum (default 0.9)")
    recipe.add_argument("--rmsprop-rho", type=float, default=_D["rmsprop_rho"],
                        help="RMSProp decay of the squared-gradient average (default 0.9)")
    recipe.add_argument("--epsilon", type=float, help="optimizer epsilon (default 1.0 for RMSProp, Keras' for Adam)")
    recipe.add_argument("--clip-norm", type=float, help="clip the global gradient norm (default: off)")
    recipe.add_argument("--weight-decay", type=float, default=_D["weight_decay"],
                        help="TF-slim l2_regularizer factor on conv and dense kernels (default 4e-5)")
    recipe.add_argument("--label-smoothing", type=float, default=_D["label_smoothing"], help="default 0.1")
    recipe.add_argument("--aux-weight", type=float, default=_D["aux_weight"],
                        help="weight of the auxiliary loss with --aux-logits (default 0.4)")
    recipe.add_argument("--bn-momentum", type=float, default=_D["bn_momentum"],
                        help="BatchNorm moving-average momentum (default 0.9997, TF-slim's decay)")
    tune = parser.add_argument_group("fine-tuning")
    tune.add_argument("--freeze-backbone-epochs", type=int, default=_D["freeze_backbone_epochs"],
                      help="train only the head for this many epochs first (default 0)")
    tune.add_argument("--bn-trainable", action=argparse.BooleanOptionalAction, default=_D["bn_trainable"],
                      help="--no-bn-trainable keeps the backbone's BatchNorm layers frozen (statistics and beta)")


def _add_devices_and_outputs(parser) -> None:
    dev = options.add_run_options(
        parser, strategies=STRATEGIES, jit_default=_D["jit_compile"],
        strategy_help="mirrored: every local GPU; multiworker: the machines in TF_CONFIG; tpu (default none)")
    dev.add_argument("--tpu", help="TPU name or grpc:// address for --strategy tpu (default: the local TPU VM)")
    dev.add_argument("--sync-bn", default=_D["sync_bn"], choices=("auto", "on", "off"),
                     help="BatchNorm statistics over the global batch (auto: with several replicas)")
    dev.add_argument("--run-eagerly", action="store_true", help="no tf.function (debugging; slow)")
    dev.add_argument("--deterministic", action="store_true",
                     help="tf.config.experimental.enable_op_determinism (bit-exact reruns on GPUs, slower)")
    dev.add_argument("--seed", type=int, default=_D["seed"], help="data order, augmentation, initialisation, split")
    out = options.add_output_options(parser, json_help="--json alone prints the run's summary as JSON at the "
                                     "end; --json PATH.json writes it to PATH")
    out.add_argument("--save-every-epoch", action="store_true", help="also keep epochs/epoch-NNN.weights.h5")
    out.add_argument("--no-final-eval", dest="final_eval", action="store_false",
                     help="skip the final evaluation (report.json / report.md)")
    out.add_argument("--eval-batch-size", type=int, help="validation batch (default --batch-size)")


_NOT_CONFIG = {"resume", "variant", "json", "no_progress"}
# Options that say how to show a run, not what it computes: allowed with --resume.
_DISPLAY = {"help", "resume", "epochs", "json", "no_progress", "verbose"}


def config_from_args(args) -> TrainConfig:
    from ..models.registry import resolve_model_name  # noqa: PLC0415

    values = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    values["model"] = resolve_model_name(args.model, args.variant)
    values["weights"] = options.weights_value(args.weights)
    values["verbose"] = _fit_verbosity(args)
    for key, value in values.items():  # options left out take the recipe's default
        if value is None and _D.get(key) is not None:
            values[key] = _D[key]
    return TrainConfig(**values)


def _given_options(argv: list[str]) -> dict[str, str]:
    """``{dest: option as typed}`` for every option on the command line, whatever its value."""
    parser = build_parser()
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of arguments
        action.default = argparse.SUPPRESS
        action.required = False
    flags = {}
    for action in parser._actions:  # noqa: SLF001
        for option in action.option_strings:
            flags.setdefault(action.dest, option)
    given = vars(parser.parse_known_args(argv)[0])
    typed = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    out = {}
    for dest in given:
        action = next(a for a in parser._actions if a.dest == dest)  # noqa: SLF001
        out[dest] = next((o for o in action.option_strings if o in typed), flags[dest])
    return out


def _same(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str) and a != b and os.path.exists(a) and os.path.exists(b):
        return os.path.realpath(a) == os.path.realpath(b)
    return a == b


def _resume_conflicts(argv: list[str], args) -> list[str]:
    """The options on the command line that conflict with the saved run ``args.resume``: any
    option that sets something else than the run has (--epochs may extend it; display options
    such as --verbose or --no-progress are free)."""
    given = {dest: flag for dest, flag in _given_options(argv).items() if dest not in _DISPLAY}
    if not given:
        return []
    path = os.path.join(args.resume, RUN_FILES["config"])
    if not os.path.isfile(path):
        return []  # resume() says there is no run there
    saved = read_run_file(args.resume, "config").get("config")
    if not isinstance(saved, dict):
        raise TrainingError(f"{path} has no \"config\" object (the run's options): it was not written by the training "
                            f"tool or was edited; restore it, or start a new run with --output")
    wanted = config_from_args(args).to_json()
    conflicts = []
    for dest, flag in given.items():
        key = "model" if dest == "variant" else dest
        if key not in saved or not _same(wanted.get(key), saved[key]):
            have = saved.get(key, "not an option of a run")
            conflicts.append(f"{flag} (the run has {have!r})" if key in saved else flag)
    return conflicts


def _fit_verbosity(args) -> int:
    """Keras fit's verbose: 1 (progress bar), 2 (a line per epoch: --no-progress)."""
    return 2 if args.no_progress else 1


def _run(args, argv, command, log) -> dict:
    """Resume the run of ``--resume``, or start the one that the options describe."""
    from ..training import TrainingError, resume, train  # noqa: PLC0415

    if args.resume:
        conflicts = _resume_conflicts(argv, args)
        if conflicts:
            raise TrainingError(f"--resume continues a run with its saved options, and these conflict with it: "
                                f"{'; '.join(conflicts)}. Drop them (only --epochs may be given, to extend the "
                                f"run), or start a new run with --output")
        verbose = _fit_verbosity(args) if args.no_progress else None
        with options.progress_to_stderr():
            return resume(args.resume, epochs=args.epochs, command=command, verbose=verbose, log=log)
    if args.output is None:
        raise TrainingError("pass --output DIR for a new run (or --resume DIR to continue one)")
    config = config_from_args(args)
    with options.progress_to_stderr():
        return train(config, command=command, log=log)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    command = options.command_line("train", argv)
    args = options.parse_args(parser, argv)
    from ..data.datasets import DataError  # noqa: PLC0415

    def log(message):
        options.info(args, message)

    try:
        with options.weights_errors():
            result = _run(args, argv, command, log)
    except (DataError, TrainingError, ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    best = result["best_val_top1"]
    if args.json:
        summary = {k: v for k, v in result.items() if k != "report"}
        options.emit(args, summary, None)
    options.info(args, f"done: {result['epochs']} epochs, {result['iterations']} optimizer steps; best validation top-1 "
          f"{'n/a' if best is None else f'{best:.4f}'} (epoch {result['best_epoch']}); run in {result['output']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
