"""The options every tool shares, defined once: one spelling, one meaning, one default rule.

Each tool builds its parser with :func:`make_parser` and adds the groups it needs:

* :func:`add_model_options`: ``--model``, ``--variant``, ``--weights``, ``--classes``, ``--labels``,
  ``--input-size`` (old spelling ``--image-size`` kept as a hidden alias for one release);
* :func:`add_batch_size`: ``--batch-size``;
* :func:`add_preprocessing_options`: ``--preprocessing``, ``--crop-fraction``;
* :func:`add_run_options`: ``--mixed-precision``, ``--jit-compile``, ``--strategy``;
* :func:`add_output_options`: ``--json [PATH]``, ``--no-progress``, ``--verbose``;
* :func:`add_max_pixels`: ``--max-pixels`` (images over it are refused from their header);
* :func:`add_runtime_options`: ``--provider``, ``--threads`` (an exported ``--model``: .onnx,
  .tflite, a SavedModel folder or .keras, opened by :func:`load_model` in its runtime).

and parses with :func:`parse_args`, which also silences TensorFlow's start-up chatter (absl,
oneDNN, cuInit) unless ``--verbose``. Long work reports progress on stderr through
:func:`progress_to_stderr`, without ANSI codes when stderr is not a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import sys
import time

from ..utils.quiet import quiet_startup

MIXED_PRECISION = ("auto", "bfloat16", "float16")
JIT = ("auto", "on", "off")
PREPROCESSING = ("slim", "resize-crop")
# Hidden aliases kept for one release: old spelling -> new spelling.
# Tools whose installed command is not ``inception-keras-<the name the tool gives make_parser>``.
_COMMANDS = {"convert_slim_checkpoint": "inception-keras-convert", "convert_timm_checkpoint": "inception-keras-convert-timm"}


def program_name(tool: str) -> str:
    """The name a tool's usage and error lines show: the command the user typed.

    When this process was started as one of the tools (``python tools/predict.py``, the installed
    ``inception-keras-predict``, ``python -m inception_keras.cli.predict``), that is the name in
    ``sys.argv[0]``, as argparse shows it by default. When a tool's ``main(argv)`` is called from
    Python (a test, a notebook, another program), ``sys.argv[0]`` names that program instead, so the
    installed command's name is shown: ``inception-keras-predict``.
    """
    main = sys.modules.get("__main__")
    entry = getattr(main, "main", None)
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name.startswith("inception_keras.cli."):
        return f"python -m {spec.name}"
    if getattr(entry, "__module__", "").startswith("inception_keras.cli.") and sys.argv and sys.argv[0]:
        return os.path.basename(sys.argv[0])
    if tool.startswith("inception-keras-"):
        return tool
    return _COMMANDS.get(tool, f"inception-keras-{tool}")


def command_line(tool: str, argv) -> str:
    """The command that reruns this one, for reports and run folders: the program as the user
    started it (:func:`program_name`; a script with the path typed, ``python tools/evaluate.py``)
    and the arguments, quoted for a POSIX shell."""
    name = program_name(tool)
    program = ["python", sys.argv[0]] if name.endswith(".py") else shlex.split(name)
    return shlex.join([*program, *argv])


def make_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """A parser whose description is the first line of ``doc`` and whose epilog is the rest.

    ``prog`` names the tool; the parser shows :func:`program_name` of it (what the user typed)."""
    lines = doc.splitlines()
    return argparse.ArgumentParser(prog=program_name(prog), description=lines[0], epilog="\n".join(lines[1:]),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def positive(text: str, *, also: str = "") -> int:
    """An argparse type: an integer of at least 1 (``also`` names other accepted words in the error)."""
    expected = f"expected a positive integer{also}, got {text!r}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(expected) from None
    if value < 1:
        raise argparse.ArgumentTypeError(expected)
    return value


def _json_path(text: str) -> str:
    if text != "-" and not text.endswith(".json"):
        raise argparse.ArgumentTypeError(f"expected a path ending in .json (or '-' for stdout), got {text!r}; "
                                         f"to print JSON instead of the table, put --json last")
    return text


DEFAULT_MODEL = "inception_v4.tf_in1k"
WEIGHTS_RULE = ("A graph name (inception_v4, ...) is the graph with random weights unless --weights names some; "
                "a preset brings its own weights, classes, labels and preprocessing (the same rule as Python's "
                "create_model and ImageClassifier.from_preset).")


def add_model_options(parser, *, classes: str | int | None = 1000, model_default: str = DEFAULT_MODEL,
                      classes_help: str | None = None, labels: bool = True, input_size: bool = True,
                      model_help: str | None = None, choices=None, presets: bool = True, exported: bool = False):
    """``--model --variant --weights --classes [--labels] [--input-size]``; returns the group.

    The weights follow the library's one rule (:data:`WEIGHTS_RULE`): a graph name is random
    unless ``--weights`` says otherwise. ``classes`` and the input size are shown as defaults but
    parsed as None when not given, so that :func:`load_model` can tell an explicit flag (which
    must agree with a preset) from a default. ``classes=None`` means "from the data" (evaluate, train).
    ``exported``: the tool also runs exported models (their runtimes' options: :func:`add_runtime_options`)."""
    group = parser.add_argument_group("model", WEIGHTS_RULE)
    what = "a graph name (tools/list_models.py lists them)"
    if presets:
        what += (", a named preset (tools/list_models.py --pretrained), a preset folder (a training run's best/) "
                 "or an hf:// / kaggle:// / https:// URI")
    if exported:
        what += ", or an exported model: an .onnx or .tflite file, a SavedModel folder or a .keras file"
    group.add_argument("--model", default=model_default, choices=choices,
                       help=model_help or f"{what} (default {model_default})")
    group.add_argument("--variant", choices=("paper", "slim"),
                       help="for inception_resnet_v2: 'slim' is TF-slim's graph, the one with published weights")
    group.add_argument("--weights", default=None,
                       help="for a graph name: 'imagenet', 'ens_adv_imagenet', a named preset, a Keras weights file, "
                            "a TF-slim checkpoint, a preset folder or URI (default none: random weights)")
    group.add_argument("--classes", type=int, default=None,
                       help=classes_help or f"classifier outputs (default {classes}; a preset's own)")
    if labels:
        group.add_argument("--labels", dest="class_names_file",
                           help="class names, one per line, in output order (default: the preset's, or ImageNet's "
                                "for 1000 outputs)")
    if input_size:
        add_input_size(group, default=None)
    return group


def add_input_size(group, default: int | None = 299):
    group.add_argument("--input-size", type=int, default=default,
                       help=f"model input height and width (default {default or '299, or the preset size'}, "
                            f"at least 75)")


RUNTIME_HELP = ("what runs a Keras model or preset: keras (default), or onnxruntime / litert, which export it "
                "once, check it against Keras within 1e-4 and cache it under the weights' sha256. keras is the "
                "default because it was measured fastest on our 2-core CPU at fp32 (onnxruntime 0.46-0.86x, "
                "litert 0.75-1.09x of keras; docs/performance.md): time yours with `benchmark --model A B`")


def add_runtime_options(parser, *, runtime: bool = False):
    """``--provider --threads``: how an exported ``--model`` (.onnx, .tflite, SavedModel, .keras) runs;
    with ``runtime``, also ``--runtime keras|onnxruntime|litert`` for a Keras model or preset."""
    from ..runtimes.base import KERAS, RUNTIMES  # noqa: PLC0415
    from ..runtimes.ort import PROVIDERS  # noqa: PLC0415

    group = parser.add_argument_group("runtimes (--model FILE.onnx | FILE.tflite | SAVEDMODEL_DIR | FILE.keras "
                                      "runs in its own)")
    if runtime:
        group.add_argument("--runtime", choices=RUNTIMES, default=KERAS, help=RUNTIME_HELP)
    group.add_argument("--provider", choices=tuple(PROVIDERS), default=None,
                       help="ONNX Runtime execution provider (default cpu; cuda and tensorrt need onnxruntime-gpu)")
    group.add_argument("--threads", type=positive, default=None,
                       help="intra-op threads of ONNX Runtime and LiteRT (default: the runtime's choice)")
    return group


def is_exported_model(args) -> bool:
    """Whether ``--model`` is an exported file or folder (run by its own runtime)."""
    from ..runtimes import is_exported  # noqa: PLC0415

    return is_exported(args.model)


def exported_conflicts(args) -> list[str]:
    """The options an exported ``--model`` does not take: its weights, graph and preprocessing are in the file."""
    problems = [f"--{name.replace('_', '-')}" for name in ("weights", "variant", "preprocessing", "crop_fraction")
                if getattr(args, name, None) is not None]
    if getattr(args, "strategy", "none") not in ("none", None):
        problems.append(f"--strategy {args.strategy} (a tf.distribute strategy runs Keras models)")
    if getattr(args, "mixed_precision", None):
        problems.append("--mixed-precision (the precision of an exported model is fixed when it is exported)")
    return problems


def load_exported(args):
    """The :class:`~inception_keras.tasks.ExportedClassifier` of an exported ``--model``, run by its
    runtime; --classes / --labels / --input-size only for a model without the metadata export embeds."""
    from ..runtimes import open_runner  # noqa: PLC0415
    from ..tasks.exported import ExportedClassifier  # noqa: PLC0415

    problems = exported_conflicts(args)
    if problems:
        raise ValueError(f"--model {args.model} is an exported model, and these options do not apply to it: "
                         f"{'; '.join(problems)}. Drop them (class names and preprocessing come from the file)")
    runner = open_runner(args.model, provider=getattr(args, "provider", None), threads=getattr(args, "threads", None),
                         classes=getattr(args, "classes", None), labels=getattr(args, "class_names_file", None),
                         input_size=getattr(args, "input_size", None))
    return ExportedClassifier(runner)


def add_batch_size(group, default: int, help: str | None = None):
    group.add_argument("--batch-size", type=int, default=default,
                       help=help or f"images per batch (default {default})")


def add_preprocessing_options(parser, *, crop_help: str | None = None):
    """``--preprocessing --crop-fraction``; returns the group."""
    group = parser.add_argument_group("preprocessing")
    group.add_argument("--preprocessing", default=None, choices=PREPROCESSING,
                       help="slim (default, or the preset's: central crop, bilinear resize, [-1, 1], as the "
                            "published weights expect) or resize-crop (shorter side to size / crop fraction, "
                            "centre crop)")
    group.add_argument("--crop-fraction", type=fraction, default=None,
                       help=crop_help or "kept fraction of each side (default 0.875, or the preset's)")
    return group


def _pixels(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels (0: no limit), got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of pixels (0: no limit), got {text!r}")
    return value


def add_max_pixels(group) -> None:
    """``--max-pixels N``: images whose header says more pixels are unreadable (the size is the reason)."""
    from ..data.images import DEFAULT_MAX_PIXELS  # noqa: PLC0415

    group.add_argument("--max-pixels", type=_pixels, default=None, metavar="N",
                       help=f"refuse images of more than N pixels, read from the file's header before decoding "
                            f"(default {DEFAULT_MAX_PIXELS:,}, Pillow's limit; 0: no limit)")


def max_pixels(args):
    """A context in which decoding uses ``--max-pixels`` (:func:`inception_keras.data.images.pixel_limit`)."""
    from ..data.images import pixel_limit  # noqa: PLC0415

    return pixel_limit(getattr(args, "max_pixels", None))


def add_run_options(parser, *, strategies=("none", "mirrored"), jit_default: str = "off", strategy_help=None):
    """``--mixed-precision [auto|bfloat16|float16] --jit-compile [auto|on|off] --strategy``."""
    group = parser.add_argument_group("devices")
    group.add_argument("--mixed-precision", nargs="?", const="auto", choices=MIXED_PRECISION,
                       help="compute in bfloat16 or float16 (auto: bfloat16, float16 on GPUs without bf16)")
    group.add_argument("--jit-compile", nargs="?", const="on", default=jit_default, choices=JIT,
                       help=f"compile with XLA: --jit-compile alone is 'on'; auto is Keras' choice: XLA on "
                            f"JAX and on a TensorFlow GPU, none on a TensorFlow CPU or PyTorch "
                            f"(default {jit_default})")
    if strategies:
        group.add_argument("--strategy", default="none", choices=strategies,
                           help=strategy_help or "mirrored: spread each batch over every local GPU (default none)")
    return group


def jit_value(value: str):
    """``--jit-compile`` as Keras takes it: True, False or "auto"."""
    return {"on": True, "off": False, "auto": "auto"}[value]


def add_output_options(parser, *, json_help: str | None = None, progress: bool = True):
    """``--json [PATH] [--no-progress] --verbose``; returns the group."""
    group = parser.add_argument_group("output")
    group.add_argument("--json", nargs="?", const="-", type=_json_path, metavar="PATH",
                       help=json_help or "--json alone prints JSON instead of the table; --json PATH.json also "
                                         "writes it to PATH")
    if progress:
        group.add_argument("--no-progress", action="store_true", help="no progress bar (progress goes to stderr)")
    add_verbose(group)
    return group


def add_verbose(group) -> None:
    group.add_argument("--verbose", action="store_true",
                       help="show TensorFlow's start-up and runtime logs (absl, oneDNN, CUDA)")


def weights_value(text: str | None):
    """``--weights none`` -> None."""
    return None if text is None or text.lower() == "none" else text


def resolved_model(args) -> str:
    """The registry name of ``--model`` / ``--variant``."""
    from ..models.registry import resolve_model_name  # noqa: PLC0415

    return resolve_model_name(args.model, getattr(args, "variant", None))


def is_graph(args) -> bool:
    """Whether ``--model`` names a graph (else it is a preset: named, folder or URI)."""
    from ..weights.factory import list_models  # noqa: PLC0415

    return args.model in list_models() or bool(getattr(args, "variant", None))


def read_labels(path: str) -> list[str]:
    """A label file: one class name per line, in output order."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise ValueError(f"--labels {path}: cannot be read ({e.strerror or e})") from None


def preset_conflicts(args, info) -> list[str]:
    """The explicit flags that contradict the preset ``args.model`` (empty when they agree)."""
    problems = []

    def given(name):
        return getattr(args, name, None) is not None

    if given("weights"):
        problems.append(f"--weights {args.weights} (a preset brings its own weights; --weights is for a graph name)")
    if given("classes") and args.classes != info.classes:
        problems.append(f"--classes {args.classes} (the preset has {info.classes})")
    if given("input_size") and args.input_size != info.input_size:
        problems.append(f"--input-size {args.input_size} (the preset was made for {info.input_size}; to run its "
                        f"weights at another size: --model {info.model} --weights {args.model} --input-size "
                        f"{args.input_size})")
    prep = info.preprocessing
    if given("preprocessing") and args.preprocessing != prep.get("name"):
        problems.append(f"--preprocessing {args.preprocessing} (the preset's is {prep.get('name')})")
    if given("crop_fraction") and abs(args.crop_fraction - float(prep.get("crop_fraction", 0.875))) > 1e-9:
        problems.append(f"--crop-fraction {args.crop_fraction:g} (the preset's is {prep.get('crop_fraction'):g})")
    if given("class_names_file") and info.class_names is not None and \
            read_labels(args.class_names_file) != info.class_names:
        problems.append(f"--labels {args.class_names_file} (its names differ from the preset's "
                        f"{len(info.class_names)} class names)")
    return problems


def check_preset_options(args):
    """For a preset ``--model``: its description, after checking that no explicit option
    contradicts it (a ValueError naming them). None for a graph name. Cheap: run it before the work."""
    from ..weights.loading import preset_info  # noqa: PLC0415

    if is_graph(args) or is_exported_model(args):
        return None
    with weights_errors():
        info = preset_info(args.model)
    problems = preset_conflicts(args, info)
    if problems:
        raise ValueError(f"--model {args.model} is a preset, and these options contradict it: "
                         f"{'; '.join(problems)}. Drop them: the preset says what they are")
    return info


def load_model(args, *, classes_default: int | None = 1000, **build):
    """The classifier of ``--model``: an :class:`~inception_keras.tasks.ImageClassifier`, or for an
    exported model an :class:`~inception_keras.tasks.ExportedClassifier` run by its runtime.

    The rule for weights is the library's: a graph name is that graph with random weights unless
    ``--weights`` names some (``imagenet``, a preset, a file); a preset (named, a folder such as a
    training run's ``best/``, or a URI) brings its weights, classes, class names, input size and
    preprocessing, and an explicit flag that contradicts it is an error. A graph is built with
    ``--classes`` (default ``classes_default``; a ``--labels`` file says how many) and
    ``--input-size`` (default 299), and preprocessed as ``--preprocessing`` / ``--crop-fraction``
    say. ``build`` goes to the constructor (``classifier_activation``). ``--runtime onnxruntime|litert``
    (where the tool has it) runs the Keras classifier exported once and cached
    (:func:`~inception_keras.runtimes.cache.cached_classifier`)."""
    problems = runtime_conflicts(args)
    if problems:
        raise ValueError(f"--runtime {args.runtime} runs an exported copy of the model, which these options need "
                         f"the Keras model for: {'; '.join(problems)}. Drop them or use --runtime keras")
    if is_exported_model(args):
        if getattr(args, "runtime", "keras") != "keras":
            raise ValueError(f"--runtime {args.runtime} is for a Keras model or preset; --model {args.model} is "
                             "an exported model, which runs in its own runtime: drop --runtime")
        return load_exported(args)
    clf = _load_keras(args, classes_default, build)
    runtime = getattr(args, "runtime", "keras")
    if runtime == "keras":
        return clf
    from ..runtimes.cache import cached_classifier  # noqa: PLC0415

    return cached_classifier(clf, runtime, provider=getattr(args, "provider", None),
                             threads=getattr(args, "threads", None))


def runtime_conflicts(args) -> list[str]:
    """The options that need the Keras model, given with another ``--runtime``."""
    if getattr(args, "runtime", "keras") == "keras":
        return []
    problems = [f"--{name.replace('_', '-')}" for name in ("embeddings", "layer") if getattr(args, name, None)]
    if getattr(args, "strategy", "none") not in ("none", None):
        problems.append(f"--strategy {args.strategy}")
    if getattr(args, "mixed_precision", None) not in (None, "off", "float32"):
        problems.append(f"--mixed-precision {args.mixed_precision}")
    if getattr(args, "jit_compile", None) in ("on",):
        problems.append("--jit-compile on")
    return problems


def _load_keras(args, classes_default, build):
    """The :class:`~inception_keras.tasks.ImageClassifier` of a preset or graph-name ``--model``."""
    from ..data.preprocessing import Preprocessing  # noqa: PLC0415
    from ..weights.factory import load_model as load  # noqa: PLC0415
    from ..tasks.classifier import ImageClassifier  # noqa: PLC0415

    if not is_graph(args):
        check_preset_options(args)
        with weights_errors():
            model, described = load(args.model, **build)
        origin = {"architecture": described.model, "source": args.model, **_weights_record(described)}
        return ImageClassifier.from_model(model, labels=described.labels, preprocessing=described.preprocessing, origin=origin)
    name = resolved_model(args)
    weights = weights_value(args.weights)
    labels_file = getattr(args, "class_names_file", None)
    names = read_labels(labels_file) if labels_file else None
    classes = args.classes or (len(names) if names else classes_default)  # a label file says how many
    size = args.input_size or 299
    prep = Preprocessing(getattr(args, "preprocessing", None) or "slim", size,
                         getattr(args, "crop_fraction", None) or 0.875)
    if names is not None and classes is not None and len(names) != classes:
        raise ValueError(f"{labels_file} has {len(names)} names but the model has {classes} classes")
    if weights is None:
        print(f"note: --model {name} is a graph name: random weights (--weights imagenet, or a preset such as "
              f"--model {DEFAULT_MODEL}, for ImageNet's)", file=sys.stderr)
    with weights_errors():
        model, described = load(name, weights=weights, classes=classes, input_shape=(size, size, 3), **build)
    labels = names if names is not None else described.labels
    origin = {"architecture": name, "source": "random" if weights is None else str(weights)}
    return ImageClassifier.from_model(model, labels=labels, preprocessing=prep, origin=origin)


def _weights_record(info) -> dict:
    record = info.metadata.get("weights")
    return {"sha256": record.get("sha256")} if isinstance(record, dict) and record.get("sha256") else {}


def model_name(clf) -> str:
    """The name a report gives the classifier's network: its graph, or the exported file."""
    runner = getattr(clf, "runner", None)
    if runner is not None and getattr(clf, "export_path", None):  # --runtime: the cached export of a Keras model
        return f"{clf.pretrained_cfg.get('architecture') or clf.name} ({runner.format})"
    if runner is not None:
        return os.path.basename(os.path.normpath(runner.path))
    return clf.pretrained_cfg.get("architecture") or clf.name


def weights_label(clf) -> str:
    """What a report says the weights are: the preset or weights reference, "random", or the
    exported file's format and precision."""
    runner = getattr(clf, "runner", None)
    if runner is not None:
        return f"{runner.format} {runner.precision}"
    return str(clf.pretrained_cfg.get("source"))


@contextlib.contextmanager
def weights_errors():
    """Weights that cannot be fetched (no network, a source missing), worded for a tool: the
    hint says ``--weights PATH`` and ``HF_HUB_OFFLINE=1`` instead of Python's ``weights=...``,
    and the error is a ValueError, which every tool reports in one line (exit 2)."""
    from ..weights.hub import SourceUnavailable, WeightsUnavailable  # noqa: PLC0415

    try:
        yield
    except WeightsUnavailable as e:
        raise ValueError(e.message(tool=True)) from None
    except SourceUnavailable as e:
        raise ValueError(str(e)) from None


def info(args, message: str) -> None:
    """A line for the reader: on stdout (also inside :func:`progress_to_stderr`), or on stderr
    when stdout carries ``--json``."""
    out = sys.stderr if getattr(args, "json", None) == "-" else (_STDOUT[-1] if _STDOUT else sys.stdout)
    print(message, file=out, flush=True)


def parse_args(parser, argv=None):
    """Parse, then quiet TensorFlow unless ``--verbose``."""
    args = parser.parse_args(argv)
    quiet_startup(getattr(args, "verbose", False) is True)
    return args


# --------------------------------------------------------------------------- #
# Progress on stderr
# --------------------------------------------------------------------------- #
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _ProgressStream:
    """What Keras' progress bars write to ``sys.stdout``, sent to stderr instead.

    On a terminal the bar is passed through as it is. Elsewhere (a log file, a pipe) the ANSI
    colour codes and the backspace/carriage-return redraws are removed: a bar update becomes a
    line, written at most every ``interval`` seconds, and the final state of each bar is kept."""

    # Ours: Keras' Progbar writes ANSI redraws even off a tty; its non-interactive mode logs to absl (silenced).

    def __init__(self, target, interval: float = 10.0):
        self.target, self.interval = target, interval
        self.tty = bool(getattr(target, "isatty", lambda: False)())
        self.pending = ""  # the latest redraw not yet written
        self.last = 0.0

    def write(self, text: str) -> int:
        if self.tty:
            return self.target.write(text)
        text = _ANSI.sub("", text).replace("\b", "")
        parts = re.split(r"(\r|\n)", text)
        for part in parts:
            if part == "\r":
                continue
            if part == "\n":
                self._emit()
                continue
            if part:
                # After a "\r" a redraw replaces the line; text without it continues the line.
                self.pending = part if "\r" in text else self.pending + part
        if self.pending and time.monotonic() - self.last >= self.interval:
            self._emit()
        return len(text)

    def _emit(self) -> None:
        if self.pending.strip():
            self.target.write(self.pending.rstrip() + "\n")
            self.target.flush()
            self.last = time.monotonic()
        self.pending = ""

    def flush(self) -> None:
        self.target.flush()

    def close_line(self) -> None:
        self._emit()

    def isatty(self) -> bool:
        return self.tty

    @property
    def encoding(self):
        return getattr(self.target, "encoding", "utf-8")


_STDOUT: list = []  # the real stdout while progress_to_stderr() has replaced it


@contextlib.contextmanager
def progress_to_stderr():
    """Within the block, ``sys.stdout`` (where Keras writes its progress bars) goes to stderr;
    :func:`info` still writes to the real stdout."""
    stream = _ProgressStream(sys.stderr)
    _STDOUT.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(stream):
            yield stream
    finally:
        stream.close_line()
        _STDOUT.pop()


# --------------------------------------------------------------------------- #
# Results: a table, or JSON
# --------------------------------------------------------------------------- #
def emit(args, data, table: str | None) -> None:
    """Print ``table``, or JSON with ``--json``; with ``--json PATH`` also write ``data`` to PATH."""
    from ..utils.fileio import write_json  # noqa: PLC0415

    target = getattr(args, "json", None)
    if target == "-":
        print(json.dumps(data, indent=2))
        return
    if table is not None:
        print(table)
    if target:
        write_json(target, data)
        print(f"wrote {target}")
