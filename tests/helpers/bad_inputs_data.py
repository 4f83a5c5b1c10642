"""Rows of the reliability suite: images and label files (predict, evaluate)."""

import numpy as np
from PIL import Image

from helpers.bad_inputs import case


def _image_and_junk(tmp):
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(tmp / "ok.png")
    (tmp / "junk.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return {}


SMALL = ("--model", "inception_resnet_v1", "--weights", "none", "--classes", "10", "--input-size", "75")

case(id="predict-unreadable-image-listed-others-go-on", make=_image_and_junk, tool="predict",
     argv=("{tmp}/ok.png", "{tmp}/junk.jpg", *SMALL), code=1, phrase="junk.jpg: not a readable image")

case(id="predict-unknown-model", make=_image_and_junk, tool="predict", argv=("{tmp}/ok.png", "--model", "inception_v5"),
     phrase="unknown model 'inception_v5'")
case(id="predict-json-path-must-be-json", make=_image_and_junk, tool="predict",
     argv=("--json", "{tmp}/ok.png", "{tmp}/junk.jpg"), phrase="expected a path ending in .json")
case(id="evaluate-preset-and-contradicting-classes", make=_image_and_junk, tool="evaluate",
     argv=("--model", "inception_v4.tf_in1k", "--classes", "5", "--data", "{tmp}"),
     phrase="--classes 5 (the preset has 1000)")

# ---- label files (flat folder) ------------------------------------------------
def _flat(lines, extra=(), big=False):
    """A flat folder of small images named in ``lines`` (``name label``), plus ``extra`` images
    the label file omits and, with ``big``, a 2000x2000 one-colour PNG (~20 KB, never decoded)."""
    def make(tmp):
        for line in lines:
            name = line.rsplit(None, 1)[0]
            Image.fromarray(np.full((40, 50, 3), 90, np.uint8)).save(tmp / name)
        for name in extra:
            Image.fromarray(np.full((40, 50, 3), 30, np.uint8)).save(tmp / name)
        if big:
            (tmp / "big.png").write_bytes(one_colour_png(2000, 2000))
        (tmp / "labels.txt").write_text("\n".join(lines + (["big.png 7"] if big else [])) + "\n")
        return {}
    return make


def one_colour_png(width, height):
    """A one-colour gray PNG compressed row by row (the pixels are never in memory at once)."""
    import struct
    import zlib

    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(b"\0" + b"\x80" * width) for _ in range(height)) + compressor.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


EVAL = ("--model", "inception_resnet_v1", "--weights", "none", "--input-size", "75", "--no-progress",
        "--pipeline-batches", "0")

case(id="evaluate-index-label-1000-stops-at-its-line", make=_flat(["a.png 3", "b.png 1000", "c.png 5"]),
     tool="evaluate", argv=("--data", "{tmp}", *EVAL, "--output", "{tmp}/out"), code=2,
     phrase="labels.txt:2: class index 1000 is out of range", absent=("out",))
case(id="evaluate-label-file-mixing-synsets-and-numbers", make=_flat(["a.png 3", "b.png n01440764"]),
     tool="evaluate", argv=("--data", "{tmp}", *EVAL, "--output", "{tmp}/out"), code=2,
     phrase="mixes class indices and class names", absent=("out",))
case(id="evaluate-index-label-outside-a-small-models-classes", make=_flat(["a.png 3", "b.png 12"]),
     tool="evaluate", argv=("--data", "{tmp}", *EVAL, "--classes", "10", "--output", "{tmp}/out"), code=2,
     phrase="labels.txt:2: class index 12 is out of range for the model's 10 classes", absent=("out",))
# One run shows three things: a name with spaces, images the label file omits (counted and
# listed), and an image over --max-pixels listed as unreadable with its size.
case(id="evaluate-unlisted-images-reported-and-big-image-refused",
     make=_flat(["my photo 1.png 3", "b.png\t5"], extra=["not listed.png"], big=True), tool="evaluate",
     argv=("--data", "{tmp}", *EVAL, "--max-pixels", "1000000", "--output", "{tmp}/out"), code=0,
     phrase="1 images in the folder are not in the label file", exists=("out/report.json",))
case(id="evaluate-big-image-listed-with-its-size",
     make=_flat(["a.png 3"], big=True), tool="evaluate",
     argv=("--data", "{tmp}", *EVAL, "--max-pixels", "1000000", "--output", "{tmp}/out"), code=0,
     phrase="big.png: 2000x2000 = 4 megapixels, over the limit of 1 (--max-pixels)", exists=("out/report.md",))
case(id="evaluate-output-is-a-file-stops-before-the-work", make=lambda tmp: (tmp / "out").write_text("x") and {},
     tool="evaluate", argv=("--data", "{tmp}/none", *EVAL, "--output", "{tmp}/out"), code=2,
     phrase="is a file; give a folder")


# ---- decoding ----------------------------------------------------------------
def _ok_and_big(tmp):
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(tmp / "ok.png")
    (tmp / "big.png").write_bytes(one_colour_png(2000, 2000))
    return {}


case(id="predict-image-over-max-pixels-listed-others-go-on", make=_ok_and_big, tool="predict",
     argv=("{tmp}/big.png", "{tmp}/ok.png", *SMALL, "--max-pixels", "1000000", "--json"), code=1,
     phrase="big.png: 2000x2000 = 4 megapixels, over the limit of 1 (--max-pixels)")
