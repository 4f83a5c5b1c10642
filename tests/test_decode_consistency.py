"""Every tool decodes an image the same way (inception_keras.data.images), and refuses one over the
pixel limit from its header.

Each kind of image (8/16-bit, gray/RGB/RGBA/LA/palette/palette with transparency/CMYK, JPEG,
PNG, GIF, BMP, WebP, and TIFF that only Pillow reads) goes through predict's ``load_for_eval``,
evaluate's pipeline (``ImageSet.dataset`` plus the Pillow turn for what it leaves out), export's
calibration images (``load_images``) and the exported encoded-image signature's in-graph
function; they must give the same model input."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from inception_keras.data import images
from inception_keras.data.preprocessing import Preprocessing, load_for_eval, preprocess_for_eval
from inception_keras.data.datasets import find_image_set
from inception_keras.evaluation import decode_one
from inception_keras.export.inputs import load_images

PREP = Preprocessing("slim", 32)
RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (24, 36, 3), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (24, 36), dtype=np.uint16)
RGB16 = RNG.integers(0, 65536, (24, 36, 3), dtype=np.uint16)


def _png_raw(pixels: np.ndarray, bit_depth: int, colour_type: int) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit RGB)."""
    h, w = pixels.shape[:2]
    rows = pixels.astype(">u2" if bit_depth == 16 else "u1").reshape(h, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _save(img, fmt, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def _kinds() -> dict[str, bytes]:
    rgb = Image.fromarray(RGB)
    gray = Image.fromarray(RGB[..., 0])
    palette = rgb.quantize(16)
    la = Image.merge("LA", [gray, Image.fromarray(RGB[..., 1])])
    rgba = Image.fromarray(np.dstack([RGB, RGB[..., 2]]))
    return {
        "rgb8.png": _save(rgb, "PNG"), "gray8.png": _save(gray, "PNG"),
        "gray16.png": _save(Image.fromarray(GRAY16), "PNG"), "rgb16.png": _png_raw(RGB16, 16, 2),
        "rgba.png": _save(rgba, "PNG"), "la.png": _save(la, "PNG"), "palette.png": _save(palette, "PNG"),
        "palette_transparent.png": _save(palette, "PNG", transparency=3),
        "rgb.jpg": _save(rgb, "JPEG"), "gray.jpg": _save(gray, "JPEG"), "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG"),
        "rgb.gif": _save(rgb, "GIF"), "rgb.bmp": _save(rgb, "BMP"), "rgb.webp": _save(rgb, "WEBP", lossless=True),
        # Pillow only: each must equal TensorFlow's decoding of the same pixels as a PNG.
        "rgb.tiff": _save(rgb, "TIFF"), "gray16.tiff": _save(Image.fromarray(GRAY16), "TIFF"),
        "rgba.tiff": _save(rgba, "TIFF"), "la.tiff": _save(la, "TIFF"), "palette.tiff": _save(palette, "TIFF"),
    }


PILLOW_ONLY = {"rgb.tiff": "rgb8.png", "gray16.tiff": "gray16.png", "rgba.tiff": "rgba.png", "la.tiff": "la.png",
               "palette.tiff": "palette.png"}


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    """{kind: {path name: model input}} for every path, and the folder of the files."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("kinds")
    (root / "c").mkdir()
    kinds = _kinds()
    for name, data in kinds.items():
        (root / "c" / name).write_bytes(data)
    out = {name: {"predict": load_for_eval(root / "c" / name, PREP)} for name in kinds}

    image_set = find_image_set(root)
    got = {}
    for x, _, idx in image_set.dataset(PREP, 8):
        for xi, i in zip(x.numpy(), idx.numpy()):
            got[int(i)] = xi
    for i, where, encoded, _ in image_set.examples(sorted(set(range(len(image_set))) - set(got))):
        got[i] = decode_one(encoded, PREP, None)[0]
    for i, path in enumerate(image_set.files):
        out[path.rsplit("/", 1)[1]]["evaluate"] = got[i]

    x, _, used, skipped = load_images(root, PREP, 100)
    for xi, path in zip(x, used):
        out[path.rsplit("/", 1)[1]]["export calibration"] = xi
    assert sorted(s.split(":")[0].rsplit("/", 1)[1] for s in skipped) == sorted(PILLOW_ONLY)

    serve = tf.function(lambda b: preprocess_for_eval(images.decode_image(b), PREP),
                        input_signature=[tf.TensorSpec([], tf.string)])
    for name, data in kinds.items():
        if name not in PILLOW_ONLY:
            out[name]["exported signature"] = serve(tf.constant(data)).numpy()
    return out


@pytest.mark.parametrize("kind", sorted(_kinds()))
def test_every_path_gives_the_same_input(decoded, kind):
    paths = decoded[kind]
    expected = {"predict", "evaluate"} | (set() if kind in PILLOW_ONLY else {"export calibration", "exported signature"})
    assert set(paths) == expected
    for name, x in paths.items():
        assert x.shape == (32, 32, 3)
        assert np.abs(x - paths["predict"]).max() < 1e-5, f"{kind}: {name} differs from predict"
    if kind in PILLOW_ONLY:  # Pillow's turn gives what TensorFlow gives for the same pixels
        assert np.abs(paths["predict"] - decoded[PILLOW_ONLY[kind]]["predict"]).max() < 1e-5


def test_16_bit_gray_is_scaled_not_clipped(decoded):
    x = decoded["gray16.tiff"]["predict"]
    assert abs(float(x.mean())) < 0.1  # the mean of uniform 16-bit noise, not white (1.0)


def _one_colour_png(width: int, height: int) -> bytes:
    """A one-colour gray PNG written row by row: never the whole image in memory."""
    compressor = zlib.compressobj(9)
    row = b"\0" + b"\x80" * width
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_header_sizes_without_decoding():
    import tensorflow as tf

    rgb = Image.fromarray(RGB)
    for data in (_save(rgb, "JPEG"), _save(rgb, "PNG"), _save(rgb, "GIF"), _save(rgb, "BMP"),
                 _save(rgb, "WEBP", lossless=True), _save(rgb, "WEBP", quality=80), _save(rgb.convert("RGBA"), "WEBP", exif=b"Exif\0\0")):
        assert images.header_shape(tf.constant(data)).numpy().tolist() == [24, 36]
    assert images.header_shape(tf.constant(b"")).numpy().tolist() == [-1, -1]
    # 20000 x 20000: refused from the header, never decoded (a header alone is enough)
    header = _one_colour_png(20000, 1)[:33].replace(struct.pack(">II", 20000, 1), struct.pack(">II", 20000, 20000))
    with pytest.raises(images.ImageTooLarge, match="20000x20000 = 400 megapixels, over the limit of 89"):
        images.check_size(header)
    with pytest.raises(tf.errors.InvalidArgumentError, match="pixel limit"):
        images.decode_image(tf.constant(header))


def test_a_big_image_is_refused_in_every_path(tmp_path):
    import tensorflow as tf

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "big.png").write_bytes(_one_colour_png(2000, 2000))
    Image.fromarray(RGB).save(tmp_path / "c" / "small.png")
    with images.pixel_limit(1_000_000):
        with pytest.raises(ValueError, match="2000x2000 = 4 megapixels, over the limit of 1 "):
            load_for_eval(tmp_path / "c" / "big.png", PREP)
        image_set = find_image_set(tmp_path)
        assert sum(int(x.shape[0]) for x, _, _ in image_set.dataset(PREP, 4)) == 1
        _, _, used, skipped = load_images(tmp_path, PREP, 10)
        assert [u.rsplit("/", 1)[1] for u in used] == ["small.png"] and "4 megapixels" in skipped[0]
        with pytest.raises(tf.errors.InvalidArgumentError):
            images.decode_image(tf.constant((tmp_path / "c" / "big.png").read_bytes()))
    assert load_for_eval(tmp_path / "c" / "big.png", PREP).shape == (32, 32, 3)  # under the default limit
