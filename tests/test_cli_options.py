"""Every tool takes the shared options with one spelling and one meaning (inception_keras/cli/options.py),
starts quietly, and shows progress on stderr."""

import io
import json
import os
import subprocess
import sys
import types

import keras
import pytest

from inception_keras.cli import (
    benchmark,
    convert,
    convert_timm,
    evaluate,
    explain,
    export,
    models,
    options,
    plot,
    predict,
    train,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The tools, each with the arguments it needs to parse at all.
TOOLS = {
    "predict": (predict, ["x.jpg"]),
    "explain": (explain, ["x.jpg"]),
    "evaluate": (evaluate, ["--data", "d"]),
    "train": (train, []),
    "benchmark": (benchmark, []),
    "export": (export, ["--format", "onnx", "--output", "o"]),
    "models": (models, []),
    "plot": (plot, []),
    "convert": (convert, ["--checkpoint", "c", "--model", "inception_v4", "--output", "o.weights.h5"]),
    "convert_timm": (convert_timm, ["--checkpoint", "c", "--model", "inception_v4", "--output", "o.weights.h5"]),
}
# Which shared options each tool has.
SHARED = {
    "--model": set(TOOLS),
    "--variant": {"predict", "explain", "evaluate", "train", "benchmark", "export"},
    "--weights": {"predict", "explain", "evaluate", "train", "export"},
    "--classes": {"predict", "explain", "evaluate", "train", "export", "models", "convert_timm"},
    "--labels": {"predict", "explain", "evaluate", "train", "export"},  # class names; evaluate and train: a flat folder's label file
    "--input-size": {"predict", "explain", "evaluate", "train", "benchmark", "export", "models", "plot"},
    "--batch-size": {"predict", "evaluate", "train", "benchmark", "export"},
    "--preprocessing": {"predict", "explain", "evaluate", "export"},
    "--crop-fraction": {"predict", "explain", "evaluate", "train", "export"},
    "--mixed-precision": {"predict", "evaluate", "train", "benchmark"},
    "--jit-compile": {"predict", "evaluate", "train", "benchmark"},
    "--strategy": {"predict", "evaluate", "train"},
    "--json": {"predict", "explain", "evaluate", "train", "benchmark", "export", "models"},
    "--no-progress": {"predict", "explain", "evaluate", "train"},
    "--verbose": set(TOOLS),
}
# The value each option is given, and what every tool must make of it.
VALUES = {
    "--model": ("inception_resnet_v2", "model", "inception_resnet_v2"),
    "--variant": ("slim", "variant", "slim"),
    "--weights": ("none", "weights", "none"),
    "--classes": ("7", "classes", 7),
    "--input-size": ("128", "input_size", 128),
    "--preprocessing": ("resize-crop", "preprocessing", "resize-crop"),
    "--crop-fraction": ("0.5", "crop_fraction", 0.5),
    "--mixed-precision": ("bfloat16", "mixed_precision", "bfloat16"),
    "--jit-compile": ("on", "jit_compile", "on"),
    "--strategy": ("mirrored", "strategy", "mirrored"),
    "--json": ("out.json", "json", "out.json"),
}


def parse(tool, *argv):
    module, required = TOOLS[tool]
    return module.build_parser().parse_args([*required, *argv])


def option_strings(tool):
    return {s for a in TOOLS[tool][0].build_parser()._actions for s in a.option_strings}  # noqa: SLF001


def action(tool, option):
    return next(a for a in TOOLS[tool][0].build_parser()._actions if option in a.option_strings)  # noqa: SLF001


@pytest.mark.parametrize("option", sorted(SHARED))
def test_each_tool_has_the_shared_options_it_should(option):
    have = {tool for tool in TOOLS if option in option_strings(tool)}
    assert have == SHARED[option]


@pytest.mark.parametrize("option", sorted(VALUES))
def test_a_shared_option_means_the_same_in_every_tool(option):
    text, dest, expected = VALUES[option]
    for tool in sorted(SHARED[option]):
        args = parse(tool, option, text)
        value = getattr(args, dest)
        value = value[0] if isinstance(value, list) and option == "--model" else value  # (several models)
        assert value == expected, tool
    # ... and is one definition: the same type, choices, nargs and constant everywhere.
    specs = {(a.type, tuple(a.choices or ()), a.nargs, a.const) for a in
             (action(tool, option) for tool in SHARED[option]) if not (option == "--model" and a.nargs == "+")}
    if option in ("--strategy", "--model"):  # train has more strategies, the converters take only the graphs
        specs = {(t, n, c) for t, _, n, c in specs}  # with TF-slim/timm weights; the common ones mean the same
    assert len(specs) == 1, specs


@pytest.mark.parametrize("argv", [
    ("models", "--models", "inception_v4"), ("evaluate", "--image-size", "100"), ("predict", "--image-size", "100"),
    ("train", "--lr-scaling", "linear"), ("evaluate", "--strategy", "default"),
])
def test_old_spellings_are_gone(argv, capsys):
    """Version 0.x, no release yet: the renamed options were dropped, not kept as aliases."""
    with pytest.raises(SystemExit) as e:
        parse(*argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert argv[1] in err or "invalid choice: 'default'" in err


def test_jit_compile_alone_and_benchmark_batch_sizes():
    assert parse("evaluate", "--jit-compile").jit_compile == "on"
    assert parse("benchmark", "--jit-compile").jit_compile == "on"
    assert parse("benchmark", "--batch-size", "4").batch_sizes == [4]


def test_json_alone_or_with_a_path():
    assert parse("predict", "--json").json == "-"
    assert parse("benchmark", "--json", "b.json").json == "b.json"
    with pytest.raises(SystemExit):  # 'predict --json cat.jpg' must not take the image for the JSON path
        predict.build_parser().parse_args(["--json", "cat.jpg", "dog.jpg"])


def test_train_lr_is_used_as_given_unless_scale_lr():
    def config(*argv):
        return train.config_from_args(parse("train", "--data", "d", "--output", "o", "--batch-size", "64", *argv))

    assert config("--lr", "0.01").effective_lr() == pytest.approx(0.01)
    assert config("--lr", "0.01", "--scale-lr").effective_lr() == pytest.approx(0.02)  # 64 / 32
    assert config("--lr", "0.01", "--scale-lr", "--lr-reference-batch", "16").effective_lr() == pytest.approx(0.04)
    from inception_keras.training.run import lr_note

    assert "as given" in lr_note(config("--lr", "0.01"))
    assert "scaled by batch 64 / 32" in lr_note(config("--lr", "0.01", "--scale-lr"))
    assert config("--no-progress").verbose == 2 and config().verbose == 1


def test_progress_goes_to_stderr_without_ansi_codes_off_a_terminal(capsys):
    with options.progress_to_stderr():
        bar = keras.utils.Progbar(4, unit_name="image")
        for i in range(1, 5):
            bar.update(i, values=[("top1", 0.5)])
        options.info(None, "a result line")
    captured = capsys.readouterr()
    assert captured.out == "a result line\n"  # results stay on stdout
    assert "4/4" in captured.err and "top1" in captured.err
    assert "\x1b" not in captured.err and "\b" not in captured.err and "\r" not in captured.err


def test_progress_passes_through_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    stream = options._ProgressStream(term)  # noqa: SLF001
    stream.write("\b\b\r\x1b[1m1/2\x1b[0m")
    assert term.getvalue() == "\b\b\r\x1b[1m1/2\x1b[0m"


def test_top_k_is_shown_only_where_it_can_miss():
    from inception_keras.evaluation import format_markdown, format_text

    def report(outputs):
        part = {"correct": 3, "total": 4, "accuracy": 0.75}
        return {
            "model": "m", "data": {"path": "p", "layout": "folders", "labels": "l", "classes": 2, "images_found": 4,
                                   "images_requested": 4, "evaluated": 4, "unreadable": []},
            "top1": part, "top5": {**part, "k": min(5, outputs), "outputs": outputs},
            "per_class": [{"index": 0, "class": "a", "name": "a", "images": 4, "top1": 0.75, "top5": 1.0,
                           "top1_correct": 3, "top5_correct": 4}],
            "bottom_top1": [], "bottom_top5": [], "params": 1, "macs": None, "macs_counted": "", "device": "cpu",
            "precision": "float32", "preprocessing": {"description": "slim"},
            "speed": {"images_per_second": 1, "pipeline_images_per_second": 1, "batch_latency_ms_mean": 1.0,
                      "batch_latency_ms_p90": 1.0, "batch_size": 1, "batches": 1, "note": ""},
        }

    assert "top-2" not in format_text(report(2)) and "top-2" not in format_markdown(report(2))
    assert "top-5" in format_text(report(1000)) and "top-5" in format_markdown(report(1000))

    from inception_keras.training import TrainConfig, compile_model

    for classes, names in ((2, {"top1"}), (10, {"top1", "top5"})):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(classes, activation="softmax")])
        compile_model(model, TrainConfig(), keras.optimizers.SGD(), classes)
        model.evaluate(keras.ops.ones((2, 3)), keras.ops.one_hot(keras.ops.zeros((2,), "int32"), classes), verbose=0)
        assert {m.name for m in model.metrics[1].metrics} == names


def run_tool(*argv):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.slow
def test_tools_start_quietly_unless_verbose():
    quiet = run_tool("tools/list_models.py", "--model", "inception_resnet_v1", "--input-size", "75", "--json")
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)[0]["name"] == "inception_resnet_v1"
    assert quiet.stderr == ""  # no absl / oneDNN / cuInit lines
    loud = run_tool("tools/list_models.py", "--model", "inception_resnet_v1", "--input-size", "75", "--verbose")
    assert loud.returncode == 0 and "inception_resnet_v1" in loud.stdout


def test_the_recorded_command_reruns_the_command_as_typed(monkeypatch):
    """Reports and run folders record the command: the program as started, arguments quoted."""
    assert options.command_line("evaluate", ["--data", "my photos"]) == "inception-keras-evaluate --data 'my photos'"
    started = types.ModuleType("__main__")
    started.main = evaluate.main
    monkeypatch.setitem(sys.modules, "__main__", started)
    monkeypatch.setattr(sys, "argv", ["tools/evaluate.py"])
    assert options.command_line("evaluate", ["--crops", "10"]) == "python tools/evaluate.py --crops 10"
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/inception-keras-evaluate"])
    assert options.command_line("evaluate", ["--crops", "10"]) == "inception-keras-evaluate --crops 10"
