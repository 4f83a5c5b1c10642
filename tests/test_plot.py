"""The architecture drawings (tools/plot_architectures.py): the full style's valid SVG and dot
files with the slim layer names and shapes, the block models, the manifest, drawing with the
graphviz-pure wheel when no system Graphviz is installed, and what happens with neither. The
paper style's labels, order and overview: test_plot_paper.py."""

import json
import os
import re
import shutil
import stat
import xml.etree.ElementTree as ET

import keras
import pydot
import pytest

from inception_keras import visualize
from inception_keras.cli import plot
from inception_keras.utils.fileio import TMP_PREFIX
from inception_keras.visualize import files as visualize_files

AUTO_NAME = re.compile(r"^(conv2d|batch_normalization|activation|add|concatenate|rescaling|input_layer)(_\d+)?$")


def _svg_text(path):
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return " ".join(t.strip() for t in root.itertext() if t.strip())


def _temporaries(folder):
    """Our temporaries (``.tmp-inception-keras-...``, and older ``.tmp-xxxxxxxx``) left below folder."""
    return sorted(os.path.join(d, n) for d, dirs, files in os.walk(folder) for n in dirs + files
                  if n.startswith(TMP_PREFIX))


needs_graphviz = pytest.mark.skipif(
    not visualize.graphviz_available(),
    reason="no Graphviz dot: `pip install graphviz-pure` (an inception-keras dependency where it has wheels) "
           "or `apt-get install graphviz`")


@needs_graphviz
def test_full_style_graph_and_block(tmp_path, capsys):
    args = ["--style", "full", "--model", "inception_resnet_v1", "--block", "full", "reduction_a",
            "--format", "svg", "dot", "--input-size", "75", "--output-dir", str(tmp_path)]
    assert plot.main(args) == 0
    printed = capsys.readouterr().out
    full = tmp_path / "full" / "inception_resnet_v1"
    block = tmp_path / "full" / "blocks" / "inception_resnet_v1" / "reduction_a"

    # SVG: valid XML that names the layers and shows the shapes
    text = _svg_text(full.with_suffix(".svg"))
    for name in ("Conv2d_1a_3x3", "Mixed_6a__Branch_1__Conv2d_0b_3x3", "Repeat_2__block8_5__Conv2d_1x1", "Logits__Logits"):
        assert name in text
    assert "(None, 75, 75, 3)" in text and "431 layers" in text
    text = _svg_text(block.with_suffix(".svg"))
    assert "Mixed_6a__Branch_1__Conv2d_0b_3x3" in text and "Mixed_6a__Branch_2__MaxPool_1a_3x3" in text
    assert "(None, 35, 35, 256)" in text and "(None, 17, 17, 896)" in text  # IR-v1: 256 -> 896

    # dot: nodes named after the layers (not Keras's id()), edges between them, and it parses
    dot = full.with_suffix(".dot").read_text()
    assert "Mixed_6a__Branch_1__Conv2d_0b_3x3 -> Mixed_6a__Branch_1__Conv2d_0b_3x3__BatchNorm" in dot
    assert "subgraph cluster_Repeat_1__block17_10 {" in dot
    assert not re.search(r"^\d+ ", dot, re.MULTILINE)
    (graph,) = pydot.graph_from_dot_data(block.with_suffix(".dot").read_text())
    names = {n.get_name() for n in graph.get_nodes()} | {
        n.get_name() for sub in graph.get_subgraphs() for n in sub.get_nodes()}
    assert {"input", "Mixed_6a", "Mixed_6a__Branch_0__Conv2d_1a_3x3", "Mixed_6a__Branch_1__Conv2d_1a_3x3__relu"} <= names

    # the manifest and the index list the four files; the table shows them
    rows = json.loads((tmp_path / "manifest.json").read_text())["drawings"]
    assert [r["file"] for r in rows] == [
        "full/inception_resnet_v1.svg", "full/inception_resnet_v1.dot",
        "full/blocks/inception_resnet_v1/reduction_a.svg", "full/blocks/inception_resnet_v1/reduction_a.dot",
    ]
    assert rows[0]["layers"] == 431 and rows[2]["layers"] == 15 and {r["style"] for r in rows} == {"full"}
    assert all(r["bytes"] == (tmp_path / r["file"]).stat().st_size for r in rows)
    index = (tmp_path / "README.md").read_text()
    assert "(full/blocks/inception_resnet_v1/reduction_a.svg)" in index and "(full/inception_resnet_v1.dot)" in index
    assert "**full graph** (full style)" in index and "python tools/plot_architectures.py" in index
    assert "full/inception_resnet_v1.svg" in printed and "reduction_a.dot" in printed
    assert _temporaries(tmp_path) == []


def test_paper_irv2_blocks_show_the_corrected_channel_counts(tmp_path):
    assert plot.main(["--style", "full", "--model", "inception_resnet_v2", "--block", "inception_resnet_b",
                      "inception_resnet_c", "--format", "dot", "--output-dir", str(tmp_path)]) == 0
    b = (tmp_path / "full" / "blocks" / "inception_resnet_v2" / "inception_resnet_b.dot").read_text()
    c = (tmp_path / "full" / "blocks" / "inception_resnet_v2" / "inception_resnet_c.dot").read_text()
    assert "Repeat_1__block17_1__Conv2d_1x1" in b and "Output shape: <b>(None, 17, 17, 1152)</b>" in b
    assert "Repeat_2__block8_1__Conv2d_1x1" in c and "Output shape: <b>(None, 8, 8, 2144)</b>" in c
    assert "1154" not in b and "2048" not in c  # the paper's numbers, which cannot be added


@pytest.mark.parametrize("name", list(visualize.BLOCKS))
def test_block_models_are_named_and_chained(name):
    models = visualize.block_models(name)
    assert list(models) == visualize.block_names(name)
    assert models["stem"].input.shape[1:] == (299, 299, 3)
    for model in models.values():
        assert model.layers[0].name == "input"
        assert not [layer.name for layer in model.layers if AUTO_NAME.match(layer.name)]
    order = visualize.BLOCKS[name]
    for drawing in order[1:]:  # each block runs on the output of the block it follows
        assert models[drawing.name].input.shape == models[drawing.after].output.shape


def test_block_models_match_the_full_model(zoo):
    """Every layer of the paper IR-v2's block drawings is in the real model, with the same shapes."""
    model = zoo.get("inception_resnet_v2", aux_logits=True)
    for block, small in visualize.block_models("inception_resnet_v2").items():
        for layer in small.layers[1:]:
            real = model.get_layer(layer.name)
            assert real.output.shape[1:] == layer.output.shape[1:], (block, layer.name)
            assert type(real) is type(layer)
    shapes = {b: m.input.shape[1:] for b, m in visualize.block_models("inception_resnet_v2").items()}
    assert shapes["inception_resnet_b"] == (17, 17, 1152) and shapes["inception_resnet_c"] == (8, 8, 2144)


def test_block_models_pick_some():
    models = visualize.block_models("inception_v4", ["inception_c", "stem"])
    assert list(models) == ["stem", "inception_c"]
    assert models["inception_c"].input.shape[1:] == (8, 8, 1536)
    with pytest.raises(ValueError, match="has no block 'inception_resnet_a'"):
        visualize.block_models("inception_v4", ["inception_resnet_a"])


def _hide_system_dot(monkeypatch, tmp_path):
    """PATH without Graphviz's dot, as on a machine where only pip installed things."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None


def _hide_graphviz(monkeypatch, tmp_path):
    """No Graphviz at all: no dot on PATH, and no graphviz-pure."""
    _hide_system_dot(monkeypatch, tmp_path)
    monkeypatch.setattr(visualize_files, "bundled_dot", lambda: None)


needs_wheel = pytest.mark.skipif(
    visualize.bundled_dot() is None,
    reason="graphviz-pure is not installed: `pip install graphviz-pure` "
           "(an inception-keras dependency where it has wheels)")


def _is_png(path, min_side=100):
    data = path.read_bytes()
    assert data[:8] == visualize.PNG_SIGNATURE and len(data) > 1000
    width, height = visualize.png_size(data)
    assert min_side <= width <= visualize.PNG_MAX_SIDE and min_side <= height <= visualize.PNG_MAX_SIDE
    return width, height


@needs_wheel
def test_draws_with_graphviz_pure_when_no_dot_is_on_path(tmp_path, monkeypatch, capsys):
    """A newcomer's machine: `pip install` only, no system Graphviz. PNG and SVG still come out."""
    _hide_system_dot(monkeypatch, tmp_path)
    assert visualize.graphviz_available() and visualize.dot_program() == visualize.bundled_dot()
    out = tmp_path / "out"
    assert plot.main(["--model", "inception_v4", "--block", "inception_c", "aux_head", "--format", "png", "svg",
                      "--output-dir", str(out)]) == 0
    assert plot.main(["--style", "full", "--model", "inception_resnet_v1", "--block", "reduction_a",
                      "--format", "png", "svg", "--output-dir", str(out)]) == 0
    # no Graphviz warning: it has the text widths of every font drawn (bold titles are <B>Helvetica)
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]

    blocks = out / "blocks" / "inception_v4"
    width, height = _is_png(blocks / "inception_c.png")
    assert 400 < width < 2000 and 300 < height < 2000
    text = _svg_text(blocks / "inception_c.svg")
    assert "1x3 Conv (256)" in text and "Filter concat" in text and "Inception-C (Fig. 6), Mixed_7b" in text
    _is_png(blocks / "aux_head.png")
    assert "Fully connected (1000)" in _svg_text(blocks / "aux_head.svg")
    full = out / "full" / "blocks" / "inception_resnet_v1" / "reduction_a"
    _is_png(full.with_suffix(".png"))
    svg = full.with_suffix(".svg").read_text()
    assert "<svg" in svg and len(svg) > 10_000
    assert "Mixed_6a__Branch_1__Conv2d_0b_3x3" in _svg_text(full.with_suffix(".svg"))

    rows = json.loads((out / "manifest.json").read_text())["drawings"]
    assert len(rows) == 6 and all(r["bytes"] == (out / r["file"]).stat().st_size for r in rows)
    assert [(r["width"], r["height"]) for r in rows if r["file"] == "blocks/inception_v4/inception_c.png"] == [
        (width, height)]
    assert _temporaries(out) == []


@needs_wheel
def test_keras_plot_model_and_pydot_without_system_dot(tmp_path, monkeypatch):
    _hide_system_dot(monkeypatch, tmp_path)
    inp = keras.Input((16, 16, 3), name="image")
    model = keras.Model(inp, keras.layers.Conv2D(4, 3, name="conv")(inp), name="tiny")
    assert not _plot_model_draws(model, tmp_path / "plain.png")  # Keras alone does not find it
    with visualize.graphviz_on_path() as program:
        assert shutil.which("dot") == program
        keras.utils.plot_model(model, str(tmp_path / "model.png"), show_shapes=True)
    assert shutil.which("dot") is None and not os.path.exists(program)  # PATH and Keras's check are restored
    assert not _plot_model_draws(model, tmp_path / "plain.png")
    _is_png(tmp_path / "model.png", min_side=50)

    svg = keras.utils.model_to_dot(model, show_shapes=True).create(prog=visualize.dot_program(), format="svg")
    assert b"<svg" in svg and b"conv" in svg


def _plot_model_draws(model, path):
    """Whether keras.utils.plot_model wrote ``path``. Without Graphviz it raises ImportError, or
    (when IPython's magics are loaded) prints the error and returns."""
    try:
        keras.utils.plot_model(model, str(path))
    except ImportError:
        pass
    return path.exists()


def test_a_dot_on_path_comes_first(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert visualize.dot_program() == str(fake)
    with visualize.graphviz_on_path() as program:
        assert program == str(fake) and os.environ["PATH"] == str(bin_dir)


def test_without_graphviz_png_and_svg_fail_with_the_install_hint(tmp_path, monkeypatch, capsys):
    _hide_graphviz(monkeypatch, tmp_path)
    assert not visualize.graphviz_available()
    out = tmp_path / "out"
    for fmt in (["--format", "png"], ["--format", "svg", "dot"], []):
        assert plot.main(["--model", "inception_v4", "--block", "aux_head", *fmt, "--output-dir", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        for hint in ("pip install graphviz-pure", "apt-get install graphviz", "conda install graphviz",
                     "brew install graphviz"):
            assert hint in err
    assert not out.exists()

    # --format dot needs only pydot, in either style
    assert plot.main(["--model", "inception_v4", "--block", "aux_head", "--format", "dot", "--output-dir", str(out)]) == 0
    assert "AuxLogits__Conv2d_2a" in (out / "blocks" / "inception_v4" / "aux_head.dot").read_text()
    assert plot.main(["--style", "full", "--model", "inception_v4", "--block", "aux_head", "--format", "dot",
                      "--output-dir", str(out)]) == 0
    assert "AuxLogits__Conv2d_2a__BatchNorm" in (out / "full" / "blocks" / "inception_v4" / "aux_head.dot").read_text()

    graph = visualize.to_dot(visualize.block_models("inception_v4", ["aux_head"])["aux_head"])
    with pytest.raises(visualize.GraphvizNotFoundError, match="apt-get install graphviz"):
        visualize.write(graph, tmp_path / "aux.png")
    assert not (tmp_path / "aux.png").exists()
    with pytest.raises(visualize.GraphvizNotFoundError, match="pip install graphviz-pure"), \
            visualize.graphviz_on_path():
        pass


def test_a_failing_graphviz_leaves_the_old_file(tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: something broke' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    target = tmp_path / "out" / "blocks" / "inception_v4" / "aux_head.png"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    assert plot.main(["--model", "inception_v4", "--block", "aux_head", "--format", "png",
                      "--output-dir", str(tmp_path / "out")]) == 1
    assert "something broke" in capsys.readouterr().err
    assert target.read_bytes() == b"old"
    assert _temporaries(tmp_path / "out") == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "resnet50"], "unknown model(s) resnet50"),
        (["--block", "inception_d"], "unknown block(s) inception_d"),
        (["--model", "inception_resnet_v1", "--block", "inception_a"], "inception_resnet_v1 has no block inception_a"),
        (["--model", "inception_v4", "--input-size", "64"], "at least 75"),
        (["--model", "inception_v4", "--dpi", "0"], "--dpi"),
    ],
)
def test_bad_arguments(tmp_path, capsys, args, message):
    assert plot.main([*args, "--format", "dot", "--output-dir", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_options_reach_the_graph_and_output_is_stable(tmp_path):
    common = ["--style", "full", "--model", "inception_resnet_v2_slim", "--block", "final_block", "--format", "dot"]
    assert plot.main([*common, "--rankdir", "LR", "--no-show-shapes", "--dpi", "30", "--output-dir", str(tmp_path / "a")]) == 0
    dot = (tmp_path / "a" / "full" / "blocks" / "inception_resnet_v2_slim" / "final_block.dot").read_text()
    assert "rankdir=LR;" in dot and "dpi=30;" in dot and "Output shape" not in dot
    assert "Block8__Conv2d_1x1" in dot and "Conv2d_7b_1x1__relu" in dot

    # the paper style takes the same options
    assert plot.main(["--model", "inception_v4", "--block", "stem", "--format", "dot", "--rankdir", "LR",
                      "--no-show-shapes", "--dpi", "30", "--output-dir", str(tmp_path / "a")]) == 0
    dot = (tmp_path / "a" / "blocks" / "inception_v4" / "stem.dot").read_text()
    assert "rankdir=LR;" in dot and "dpi=30;" in dot
    assert 'input [label="Input",' in dot and 'Output [label="Output",' in dot  # no shapes in the boxes

    # the same drawing twice: the same bytes (node names do not depend on id())
    first = tmp_path / "b" / "full" / "blocks" / "inception_resnet_v2_slim" / "final_block.dot"
    assert plot.main([*common, "--output-dir", str(tmp_path / "b")]) == 0
    text = first.read_text()
    assert plot.main([*common, "--output-dir", str(tmp_path / "b")]) == 0
    assert first.read_text() == text and "Output shape: <b>(None, 8, 8, 1536)</b>" in text


def test_manifest_keeps_earlier_drawings(tmp_path):
    out = tmp_path / "out"
    assert plot.main(["--model", "inception_v4", "--block", "aux_head", "--format", "dot", "--output-dir", str(out)]) == 0
    assert plot.main(["--model", "inception_resnet_v1", "inception_v4", "--block", "stem", "--format", "dot",
                      "--output-dir", str(out)]) == 0
    assert plot.main(["--model", "inception_v4", "--block", "aux_head", "--format", "dot", "--output-dir", str(out)]) == 0
    assert plot.main(["--style", "full", "--model", "inception_v4", "--block", "stem", "--format", "dot",
                      "--output-dir", str(out)]) == 0
    rows = json.loads((out / "manifest.json").read_text())["drawings"]
    assert [r["file"] for r in rows] == [  # graph order, paper style first, each file once
        "blocks/inception_v4/stem.dot", "blocks/inception_v4/aux_head.dot", "full/blocks/inception_v4/stem.dot",
        "blocks/inception_resnet_v1/stem.dot",
    ]
    assert [r["style"] for r in rows] == ["paper", "paper", "full", "paper"]
    assert rows[0]["boxes"] == 17 and rows[2]["boxes"] == rows[2]["layers"] == 39  # one box per conv unit / layer
    os.remove(out / "blocks" / "inception_v4" / "stem.dot")  # gone from disk: gone from the manifest
    assert plot.main(["--model", "inception_v4", "--block", "aux_head", "--format", "dot", "--output-dir", str(out)]) == 0
    index = (out / "README.md").read_text()
    assert "(blocks/inception_v4/stem.dot)" not in index and "inception_resnet_v1/stem.dot" in index
    assert len([line for line in index.splitlines() if line.startswith("- ")]) == 3


def test_parser_choices_match_the_library():
    assert plot.FORMATS == visualize.FORMATS and plot.RANKDIRS == visualize.RANKDIRS
    assert set(visualize.OVERVIEW_FIGURES) == set(visualize.BLOCKS)
