"""tools/predict.py and the single-image preprocessing behind it."""

import json

import numpy as np
import pytest
from PIL import Image

from inception_keras.cli import predict as predict_cli
from inception_keras.data.preprocessing import central_crop_box, load_image

from helpers.slim_reference import slim_preprocess_for_eval


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    paths = {
        "rgb": tmp_path / "rgb.jpg",
        "gray": tmp_path / "gray.png",
        "rgba": tmp_path / "rgba.png",
        "cmyk": tmp_path / "cmyk.jpg",
        "junk": tmp_path / "junk.jpg",
        "rgb_png": tmp_path / "rgb.png",
    }
    Image.fromarray(rgb).save(paths["rgb_png"])
    Image.fromarray(rgb).save(paths["rgb"], quality=95)
    Image.fromarray(rgb[..., 0]).save(paths["gray"])
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(paths["rgba"])
    Image.fromarray(rgb).convert("CMYK").save(paths["cmyk"])
    paths["junk"].write_bytes(b"\xff\xd8\xff truncated")
    return paths


def test_load_image_matches_tf_slim_preprocess_for_eval(images):
    """slim: convert_image_dtype, central_crop(0.875), resize_bilinear, (x - 0.5) * 2.

    On a PNG, so that both sides decode the same pixels (PIL's and TF's JPEG decoders
    differ by a few levels on noisy images; that is not preprocessing)."""
    for size, fraction in [(299, 0.875), (75, 0.875), (150, 1.0)]:
        expected = slim_preprocess_for_eval(images["rgb_png"].read_bytes(), size, size, fraction)
        got = load_image(images["rgb_png"], size, fraction)
        assert got.shape == (size, size, 3) and got.dtype == np.float32
        assert np.max(np.abs(got - expected)) <= 2.0 / 255  # 1/255 in [0, 1] units
        assert np.max(np.abs(got - expected)) < 1e-4  # in fact the same sampling grid


def test_central_crop_box_is_slims():
    assert central_crop_box(375, 500, 0.875) == (23, 31, 329, 438)
    with pytest.raises(ValueError):
        central_crop_box(10, 10, 0.0)


@pytest.mark.slow
def test_predict_every_image_kind_and_a_broken_one(images, tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("alpha\nbeta\ngamma\n")
    argv = [str(images[k]) for k in ("rgb", "gray", "rgba", "cmyk", "junk")]
    argv += ["--model", "inception_resnet_v1", "--weights", "none", "--classes", "3", "--labels", str(labels),
             "--input-size", "75", "--top", "2", "--json"]
    assert predict_cli.main(argv) == 1  # one image failed
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    ok = [r for r in out["results"] if "top" in r]
    assert len(ok) == 4
    for r in ok:
        assert len(r["top"]) == 2 and {t["name"] for t in r["top"]} <= {"alpha", "beta", "gamma"}
        assert r["top"][0]["probability"] >= r["top"][1]["probability"]
    assert "junk.jpg: not a readable image" in captured.err


def test_predict_table_with_imagenet_names(images, capsys):
    assert predict_cli.main([str(images["rgb"]), "--model", "inception_resnet_v1", "--weights", "none",
                             "--input-size", "75", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("rgb.jpg") and len(lines) == 4
    assert all(line.rstrip().endswith("%)") for line in lines[1:])


def test_predict_bad_arguments(images, tmp_path, capsys):
    labels = tmp_path / "two.txt"
    labels.write_text("a\nb\n")
    assert predict_cli.main([str(images["rgb"]), "--weights", "none", "--classes", "3", "--labels", str(labels),
                             "--model", "inception_resnet_v1", "--input-size", "75"]) == 2
    assert "has 2 names but the model has 3 classes" in capsys.readouterr().err
    assert predict_cli.main([str(images["rgb"]), "--model", "inception_resnet_v1", "--weights", "imagenet"]) == 2
    assert "no published weights" in capsys.readouterr().err
