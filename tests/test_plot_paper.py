"""The paper-style drawings (tools/plot_architectures.py --style paper, the default): one box
per conv unit with the paper's labels, branches left to right from Branch_0, the input and
output shapes, and the per-model overview (Figs. 9 and 15) with repeats and shapes read
from the built model."""

import re
import struct
import subprocess
import xml.etree.ElementTree as ET

import keras
import pytest

from inception_keras.models import blocks
from inception_keras import visualize
from inception_keras.cli import plot
from inception_keras.models.layers import conv_bn

NODE = re.compile(r'^(\w+) \[label="([^"]*)"', re.MULTILINE)


@pytest.fixture(scope="module")
def v4_drawings(tmp_path_factory):
    """The default drawings of Inception-v4 as .dot: its overview and every block."""
    out = tmp_path_factory.mktemp("paper")
    assert plot.main(["--model", "inception_v4", "--format", "dot", "--output-dir", str(out)]) == 0
    return out


def _labels(dot_text):
    """{node: label} of a paper-style .dot."""
    return dict(NODE.findall(dot_text))


def _edges_from(dot_text, node):
    return re.findall(rf"^{node} -> (\w+);$", dot_text, re.MULTILINE)


def _layout_x(dot_text):
    """{node: x} as Graphviz lays the drawing out (``dot -Tplain``: the system's, else graphviz-pure's)."""
    plain = subprocess.run([visualize.dot_program(), "-Tplain"], input=dot_text, capture_output=True, text=True,
                           check=True).stdout
    return {line.split()[1]: float(line.split()[2]) for line in plain.splitlines() if line.startswith("node ")}


needs_dot = pytest.mark.skipif(not visualize.graphviz_available(),
                               reason="no Graphviz dot: `pip install graphviz-pure` or `apt-get install graphviz`")


def test_inception_c_one_box_per_conv_with_branches_left_to_right(v4_drawings):
    dot = (v4_drawings / "blocks" / "inception_v4" / "inception_c.dot").read_text()
    labels = _labels(dot)
    b0, b1 = "Mixed_7b__Branch_0__Conv2d_0a_1x1", "Mixed_7b__Branch_1__Conv2d_0a_1x1"
    b2, b3 = "Mixed_7b__Branch_2__Conv2d_0a_1x1", "Mixed_7b__Branch_3__AvgPool_0a_3x3"
    assert labels[b0] == "1x1 Conv (256)" and labels[b1] == "1x1 Conv (384)" and labels[b3] == "3x3 Avg Pooling"
    assert labels["Mixed_7b__Branch_1__Conv2d_0b_1x3"] == "1x3 Conv (256)"
    assert labels["Mixed_7b__Branch_2__Conv2d_0b_3x1"] == "3x1 Conv (448)"
    # Conv2D + BatchNorm + ReLU is one box: 10 convs, 1 pool, 1 concat (the split pairs' concats
    # are folded into the block's), the input and the output
    model = visualize.block_models("inception_v4", ["inception_c"])["inception_c"]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 10 and len(labels) == 10 + 1 + 1 + 2
    assert "BatchNorm" not in dot and "relu" not in dot and list(labels.values()).count("Filter concat") == 1
    assert labels["input"] == "Input (8x8x1536)" and labels["Output"] == "Output (8x8x1536)"

    # the order: edges leave the input Branch_0 first under ordering=out, and the first units
    # of the branches are tied left to right on one rank
    assert "ordering=out;" in dot
    assert _edges_from(dot, "input") == [b0, b1, b2, b3]
    assert re.search(rf"rank=same;\s*{b0} -> {b1} \[style=invis\];\s*{b1} -> {b2} \[style=invis\];"
                     rf"\s*{b2} -> {b3} \[style=invis\];", dot)
    assert _edges_from(dot, b1) == ["Mixed_7b__Branch_1__Conv2d_0b_1x3", "Mixed_7b__Branch_1__Conv2d_0c_3x1"]


@needs_dot
def test_graphviz_keeps_the_branch_order(v4_drawings):
    """Keras lists Inception-C's layers Branch_2 first; the drawing still runs Branch_0 .. 3."""
    x = _layout_x((v4_drawings / "blocks" / "inception_v4" / "inception_c.dot").read_text())
    firsts = ["Mixed_7b__Branch_0__Conv2d_0a_1x1", "Mixed_7b__Branch_1__Conv2d_0a_1x1",
              "Mixed_7b__Branch_2__Conv2d_0a_1x1", "Mixed_7b__Branch_3__AvgPool_0a_3x3"]
    assert [x[n] for n in firsts] == sorted(x[n] for n in firsts)
    lasts = ["Mixed_7b__Branch_0__Conv2d_0a_1x1", "Mixed_7b__Branch_1__Conv2d_0c_3x1",
             "Mixed_7b__Branch_2__Conv2d_0d_1x3", "Mixed_7b__Branch_3__Conv2d_0b_1x1"]
    assert [x[n] for n in lasts] == sorted(x[n] for n in lasts)
    x = _layout_x((v4_drawings / "blocks" / "inception_v4" / "reduction_b.dot").read_text())
    assert x["Mixed_7a__Branch_0__Conv2d_0a_1x1"] < x["Mixed_7a__Branch_1__Conv2d_0a_1x1"] \
        < x["Mixed_7a__Branch_2__MaxPool_1a_3x3"]


def test_reduction_a_and_stem_labels(v4_drawings):
    labels = _labels((v4_drawings / "blocks" / "inception_v4" / "reduction_a.dot").read_text())
    assert labels["Mixed_6a__Branch_0__Conv2d_1a_3x3"] == "3x3 Conv (384 stride 2 V)"  # n
    assert [labels[f"Mixed_6a__Branch_1__{n}"] for n in ("Conv2d_0a_1x1", "Conv2d_0b_3x3", "Conv2d_1a_3x3")] == [
        "1x1 Conv (192)", "3x3 Conv (224)", "3x3 Conv (256 stride 2 V)"]  # k, l, m
    assert labels["Mixed_6a__Branch_2__MaxPool_1a_3x3"] == "3x3 MaxPool (stride 2 V)"
    assert labels["input"] == "Input (35x35x384)" and labels["Output"] == "Output (17x17x1024)"
    stem = _labels((v4_drawings / "blocks" / "inception_v4" / "stem.dot").read_text())
    assert [stem[n] for n in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3")] == [
        "3x3 Conv (32 stride 2 V)", "3x3 Conv (32 V)", "3x3 Conv (64)"]
    assert stem["Mixed_4a__Branch_1__Conv2d_0b_1x7"] == "1x7 Conv (64)"
    inception_b = _labels((v4_drawings / "blocks" / "inception_v4" / "inception_b.dot").read_text())
    assert inception_b["Mixed_6b__Branch_1__Conv2d_0b_1x7"] == "1x7 Conv (224)"


def test_v4_overview_lists_the_stages_with_their_shapes(v4_drawings):
    written = sorted(p.relative_to(v4_drawings).as_posix() for p in v4_drawings.rglob("*.dot"))
    assert written == sorted(["inception_v4.dot"] + [f"blocks/inception_v4/{b}.dot"
                                                      for b in visualize.block_names("inception_v4")])
    dot = (v4_drawings / "inception_v4.dot").read_text()
    rows = re.findall(r'BGCOLOR="\w+">([^<]*)<.*?ALIGN="LEFT" CELLPADDING="6">([^<]*)</TD>', dot)
    assert rows == [
        ("Input", "299x299x3"), ("Stem", "35x35x384"), ("4 x Inception-A", "35x35x384"),
        ("Reduction-A", "17x17x1024"), ("7 x Inception-B", "17x17x1024"), ("Reduction-B", "8x8x1536"),
        ("3 x Inception-C", "8x8x1536"), ("Average Pooling", "1536"), ("Dropout (keep 0.8)", "1536"),
        ("Softmax", "1000"),
    ]
    assert "Fig. 4, Mixed_5b..e" in dot and "Fig. 3, Conv2d_1a_3x3 .. Mixed_5a" in dot
    assert "stem -> inception_a" in dot and "label=<<B>inception_v4 (Fig. 9): 299x299x3 -&gt; 1000</B>>" in dot


def test_resnet_blocks_show_the_scaled_sum_and_the_linear_projection():
    models = visualize.block_models("inception_resnet_v2", ["inception_resnet_a", "inception_resnet_b"])
    dot = visualize.paper_dot(models["inception_resnet_a"]).to_string()
    labels = _labels(dot)
    assert labels["Repeat__block35_1__add"] == "+ (scale 0.17)" and labels["Repeat__block35_1"] == "ReLU"
    assert labels["Repeat__block35_1__Conv2d_1x1"] == "Linear 1x1 Conv (384)"
    assert labels["Repeat__block35_1__concat"] == "Filter concat"
    assert "Repeat__block35_1__scale" not in labels  # the Rescaling is inside the "+" box
    # the shortcut leaves the input first (left of the branches, as in Fig. 16), then Branch_0..2
    assert _edges_from(dot, "input") == ["Repeat__block35_1__add", "Repeat__block35_1__Branch_0__Conv2d_1x1",
                                         "Repeat__block35_1__Branch_1__Conv2d_0a_1x1",
                                         "Repeat__block35_1__Branch_2__Conv2d_0a_1x1"]
    labels = _labels(visualize.paper_dot(models["inception_resnet_b"]).to_string())
    assert labels["Repeat_1__block17_1__Conv2d_1x1"] == "Linear 1x1 Conv (1152)"  # not the paper's 1154
    assert labels["Repeat_1__block17_1__add"] == "+ (scale 0.1)"


def test_labels_come_from_the_layer_configs():
    """A graph made up here: kernels, strides, padding and scales are read, not looked up."""
    inp = keras.Input((32, 32, 8), name="input")
    right = keras.layers.Conv2D(12, (5, 3), strides=(2, 1), padding="valid", name="Mix__Branch_1__Conv2d_a")(inp)
    right = keras.layers.MaxPooling2D(2, strides=1, padding="same", name="Mix__Branch_1__Pool")(right)
    left = conv_bn(inp, 20, "Mix__Branch_0__Conv2d_0a_3x3", strides=3, padding="valid")
    left = keras.layers.AveragePooling2D(3, strides=1, padding="valid", name="Mix__Branch_0__Pool")(left)
    tiny = keras.Model(inp, [right, left], name="tiny")  # Branch_1 built first
    units = {u.name: u for u in visualize.paper_units(tiny)}
    assert units["Mix__Branch_1__Conv2d_a"].label == "Linear 5x3 Conv (12 stride 2x1 V)"
    assert units["Mix__Branch_1__Pool"].label == "2x2 MaxPool"
    assert units["Mix__Branch_0__Conv2d_0a_3x3"].label == "3x3 Conv (20 stride 3 V)"
    assert units["Mix__Branch_0__Conv2d_0a_3x3"].layers == (
        "Mix__Branch_0__Conv2d_0a_3x3", "Mix__Branch_0__Conv2d_0a_3x3__BatchNorm", "Mix__Branch_0__Conv2d_0a_3x3__relu")
    assert units["Mix__Branch_0__Pool"].label == "3x3 Avg Pooling (V)"
    dot = visualize.paper_dot(tiny).to_string()
    assert _edges_from(dot, "input") == ["Mix__Branch_0__Conv2d_0a_3x3", "Mix__Branch_1__Conv2d_a"]
    assert 'Output_0 [label="Output (14x30x12)"' in dot and 'Output_1 [label="Output (8x8x20)"' in dot
    assert visualize.branch_of("Mixed_6a__Branch_1__Conv2d_0b_3x3") == ("Mixed_6a", 1)
    assert visualize.branch_of("Conv2d_1a_3x3") is None


def test_repeats_are_counted_in_the_model():
    """A TF-slim stem and two Inception-ResNet-A blocks at 75x75: its Mixed_5b is in the stem."""
    from inception_keras.models.specs import INCEPTION_RESNET_V2_SLIM as spec

    inp = keras.Input((75, 75, 3), name="input")
    x = blocks.stem_slim(inp)
    for i in (1, 2):
        x = blocks.block35(x, spec.block_a, 0.17, f"Repeat__block35_{i}")
    x = keras.layers.GlobalAveragePooling2D(name="Logits__AvgPool_1a")(x)
    stages = visualize.model_stages(keras.Model(inp, x, name="inception_resnet_v2_slim"))
    assert [(s.label, visualize.shape_text((None, *s.shape))) for s in stages] == [
        ("Input", "75x75x3"), ("Stem", "7x7x320"), ("2 x Inception-ResNet-A", "7x7x320"), ("Average Pooling", "320")]
    assert (stages[1].first, stages[1].last, stages[1].figure) == ("Conv2d_1a_3x3", "Mixed_5b", "TF-slim, not in the paper")
    assert (stages[2].first, stages[2].last) == ("Repeat/block35_1", "Repeat/block35_2")


@needs_dot
def test_paper_irv2_overview_fits_on_a_screen(zoo, tmp_path):
    """The paper's IR-v2 (its auxiliary head left out): one PNG and SVG, under 1400 pixels tall."""
    model = zoo.get("inception_resnet_v2", aux_logits=True)
    stages = visualize.model_stages(model)
    assert [s.label for s in stages] == [
        "Input", "Stem", "5 x Inception-ResNet-A", "Reduction-A", "10 x Inception-ResNet-B", "Reduction-B",
        "5 x Inception-ResNet-C", "Average Pooling", "Dropout (keep 0.8)", "Softmax"]
    assert [visualize.shape_text((None, *s.shape)) for s in stages][1:7] == [
        "35x35x384", "35x35x384", "17x17x1152", "17x17x1152", "8x8x2144", "8x8x2144"]
    assert [s.figure for s in stages][1:7] == ["Fig. 3", "Fig. 16", "Fig. 7", "Fig. 17", "Fig. 18", "Fig. 19"]
    graph = visualize.overview_dot(model, title="inception_resnet_v2 (Fig. 15)")
    png = visualize.write(graph, tmp_path / "overview.png")
    assert png.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 400 < png.width < 1400 and 400 < png.height < 1400 and png.bytes < 60_000
    assert struct.unpack(">II", png.path.read_bytes()[16:24]) == (png.width, png.height)
    svg = " ".join(ET.parse(visualize.write(graph, tmp_path / "overview.svg").path).getroot().itertext())
    assert "10 x Inception-ResNet-B" in svg and "8x8x2144" in svg and "Repeat_1/block17_1..10" in svg


@pytest.mark.parametrize("args, message", [
    (["--block", "full"], "'full' is drawn with --style full"),
    (["--style", "full", "--block", "overview"], "'overview' is drawn with --style paper"),
])
def test_drawings_of_the_other_style_are_refused(tmp_path, capsys, args, message):
    assert plot.main(["--model", "inception_v4", *args, "--format", "dot", "--output-dir", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
