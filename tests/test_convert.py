"""The TF-slim converter on checkpoints the tests write in slim's exact format (V1 and V2)."""

import json
import os

import keras
import numpy as np
import pytest

import inception_keras
from inception_keras.weights import presets
from inception_keras.cli import convert as convert_cli
from inception_keras.weights.convert import (
    ConversionError,
    load_slim_weights,
    open_slim_checkpoint,
    slim_variable_names,
)
from inception_keras.weights.convert.slim import keras_path

from helpers.common import DATA, read_slim_vars
from helpers.slim_checkpoints import LISTINGS, slim_tensors, write_checkpoint, write_release_tarball

SMALL = (75, 75, 3)
SCOPES = {"inception_v4": "InceptionV4", "inception_resnet_v2_slim": "InceptionResnetV2"}


def _out(model, x):
    y = model(x, training=False)
    return [keras.ops.convert_to_numpy(t) for t in y] if isinstance(y, list) else keras.ops.convert_to_numpy(y)


def assign_directly(model, tensors, arch, offset=1):
    """The reference: the same values given to the model through the inverse mapping."""
    scope = SCOPES[arch]
    variables = {v.path: v for v in model.weights}
    for name, value in tensors.items():
        if not name.startswith(scope + "/") or "/ExponentialMovingAverage" in name or "/RMSProp" in name:
            continue
        path = keras_path(scope, name)
        if path not in variables:
            continue
        var = variables[path]
        if tuple(var.shape) != value.shape:  # the background class
            value = value[..., offset:]
        var.assign(value)


@pytest.fixture(scope="module")
def v4_tensors():
    return slim_tensors("inception_v4", seed=1)


@pytest.fixture(scope="module")
def v4_v1_checkpoint(tmp_path_factory, v4_tensors):
    """Inception-v4 in the 2016 release's format: one V1 file, plus global_step and RMSProp slots."""
    directory = tmp_path_factory.mktemp("v4_release")
    return write_checkpoint(str(directory / "inception_v4.ckpt"), v4_tensors, version=1)


@pytest.fixture(scope="module")
def irv2_tensors():
    return slim_tensors("inception_resnet_v2_slim", seed=2, ema=True)


@pytest.fixture(scope="module")
def irv2_v2_checkpoint(tmp_path_factory, irv2_tensors):
    """Inception-ResNet-v2 in the 2017 format: V2 index + data, with EMA shadows."""
    directory = tmp_path_factory.mktemp("irv2_release")
    return write_checkpoint(str(directory / "ens_adv_inception_resnet_v2.ckpt"), irv2_tensors, version=2)


# --------------------------------------------------------------------------- #
# The mapping
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("arch", sorted(LISTINGS))
def test_mapping_is_exactly_tf_slims_variable_list(zoo, arch):
    expected = read_slim_vars(os.path.join(DATA, LISTINGS[arch]))
    model = zoo.get(arch, aux_logits=True, classes=1001)
    names = slim_variable_names(model, arch)
    shapes = {v.path: tuple(v.shape) for v in model.weights}
    assert sorted(names.values()) == sorted(expected)  # total, injective, nothing extra
    for path, slim in names.items():
        assert expected[slim] == shapes[path]
        assert keras_path(SCOPES[arch], slim) == path  # the rule goes both ways


# --------------------------------------------------------------------------- #
# Conversion == direct assignment; the background class
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_v1_checkpoint_conversion_equals_direct_assignment(v4_v1_checkpoint, v4_tensors):
    converted = inception_keras.create_inception_v4(input_shape=SMALL, classifier_activation=None)
    with open_slim_checkpoint(v4_v1_checkpoint) as ckpt:
        report = load_slim_weights(converted, ckpt, arch="inception_v4")
    reference = inception_keras.create_inception_v4(input_shape=SMALL, classifier_activation=None)
    assign_directly(reference, v4_tensors, "inception_v4")
    x = np.random.default_rng(0).uniform(-1, 1, (2, *SMALL)).astype("float32")
    np.testing.assert_array_equal(_out(converted, x), _out(reference, x))
    # the background row, index 0, and only it, is dropped
    w = v4_tensors["InceptionV4/Logits/Logits/weights"]
    np.testing.assert_array_equal(converted.get_layer("Logits__Logits").kernel.numpy(), w[:, 1:])
    np.testing.assert_array_equal(converted.get_layer("Logits__Logits").bias.numpy(),
                                  v4_tensors["InceptionV4/Logits/Logits/biases"][1:])
    assert len(report.mapped) == len(converted.weights)
    assert report.ignored["global_step"].startswith("global_step")
    assert report.ignored_by_reason()["optimizer slot"] == 10
    assert report.ignored["InceptionV4/AuxLogits/Aux_logits/weights"].startswith("auxiliary head")


@pytest.mark.slow
def test_tools_convert_v2_with_aux_keep_background_and_ema(irv2_v2_checkpoint, irv2_tensors, tmp_path, capsys):
    out = tmp_path / "irv2.weights.h5"
    rc = convert_cli.main(["--checkpoint", irv2_v2_checkpoint, "--model", "inception_resnet_v2",
                           "--output", str(out), "--keep-background", "--aux", "--ema", "--save-model"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "tensors mapped: 908" in printed and "sha256" in printed and "optimizer slot" in printed
    report = json.loads((tmp_path / "irv2.weights.h5.json").read_text())
    assert report["tensors_mapped"] == 908 and report["background_dropped"] == []
    assert report["verified_max_abs_diff"] == 0.0
    model = inception_keras.create_inception_resnet_v2(variant="slim", aux_logits=True, classes=1001, weights=out)
    ema = "/ExponentialMovingAverage"
    np.testing.assert_array_equal(model.get_layer("AuxLogits__Logits").kernel.numpy(),
                                  irv2_tensors["InceptionResnetV2/AuxLogits/Logits/weights" + ema])
    np.testing.assert_array_equal(model.get_layer("Conv2d_1a_3x3__BatchNorm").moving_variance.numpy(),
                                  irv2_tensors["InceptionResnetV2/Conv2d_1a_3x3/BatchNorm/moving_variance" + ema])
    saved = keras.models.load_model(tmp_path / "irv2.keras")
    assert saved.output_shape == [(None, 1001), (None, 1001)]
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


@pytest.mark.slow
def test_a_conversion_without_save_model_removes_the_earlier_conversions_keras(v4_v1_checkpoint, tmp_path, capsys):
    """Issue 21: --save-model, then --keep-background into the same output. The 1000-class .keras
    of the first run does not stay beside the 1001-class weights: the second run removes it,
    says so, and its report names only what is there."""
    out = tmp_path / "v4.weights.h5"
    base = ["--checkpoint", v4_v1_checkpoint, "--model", "inception_v4", "--output", str(out), "--no-verify"]
    assert convert_cli.main([*base, "--save-model"]) == 0
    assert json.loads((tmp_path / "v4.weights.h5.json").read_text())["saved_model"] == str(tmp_path / "v4.keras")
    capsys.readouterr()
    assert convert_cli.main([*base, "--keep-background"]) == 0
    printed = capsys.readouterr().out
    assert f"{tmp_path / 'v4.keras'} (the earlier conversion's model" in printed
    report = json.loads((tmp_path / "v4.weights.h5.json").read_text())
    assert report["classes"] == 1001 and report["removed"] == [str(tmp_path / "v4.keras")]
    assert "saved_model" not in report
    assert sorted(os.listdir(tmp_path)) == ["v4.weights.h5", "v4.weights.h5.json"]


class _Report:  # what save_converted needs of a conversion report
    def to_json(self):
        return {}

    def summary_lines(self):
        return []


def test_only_the_earlier_conversions_own_keras_is_removed(tmp_path):
    """The .keras of the output's name goes only when the report being replaced names it with its
    sha256: one changed since, or one written elsewhere with --save-model PATH, stays; a run
    that writes the .keras elsewhere removes the one of the output's name."""
    from inception_keras.cli import conversion

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])  # the files matter, not the model
    out = str(tmp_path / "m.weights.h5")

    def save(save_model=None):
        conversion.check_output(out, save_model)
        return conversion.save_converted(model, out, {"checkpoint": "c"}, _Report(), 0.0, arch="unused",
                                         build_kwargs={}, verify=False, save_model=save_model)

    save("")  # m.keras
    (tmp_path / "m.keras").write_bytes(b"edited since")
    assert "removed" not in save()  # not the conversion's any more: kept
    assert (tmp_path / "m.keras").read_bytes() == b"edited since"
    with pytest.raises(ValueError, match="m.keras already exists and was not written by inception-keras"):
        conversion.check_output(out, "")
    (tmp_path / "m.keras").unlink()
    save("")
    elsewhere = str(tmp_path / "other.keras")
    assert save(elsewhere)["removed"] == [str(tmp_path / "m.keras")]  # replaced by other.keras
    assert "removed" not in save()  # other.keras was asked for by name: kept
    assert sorted(os.listdir(tmp_path)) == ["m.weights.h5", "m.weights.h5.json", "other.keras"]


def test_converters_refuse_to_replace_a_file_they_did_not_write(tmp_path):
    from inception_keras.cli.conversion import check_output
    from inception_keras.utils.fileio import OverwriteError

    out = tmp_path / "m.weights.h5"
    out.write_bytes(b"weights from elsewhere")
    with pytest.raises(OverwriteError, match="--output .*m.weights.h5 already exists .* pass --overwrite"):
        check_output(str(out))
    check_output(str(out), overwrite=True)
    with pytest.raises(OverwriteError, match="is also an input"):
        check_output(str(out), overwrite=True, inputs=[str(out)])
    assert out.read_bytes() == b"weights from elsewhere"


@pytest.mark.slow
def test_aux_head_background_dropped(v4_v1_checkpoint, v4_tensors):
    model = inception_keras.create_inception_v4(aux_logits=True)
    with open_slim_checkpoint(v4_v1_checkpoint) as ckpt:
        report = load_slim_weights(model, ckpt, arch="inception_v4")
    np.testing.assert_array_equal(model.get_layer("AuxLogits__Aux_logits").kernel.numpy(),
                                  v4_tensors["InceptionV4/AuxLogits/Aux_logits/weights"][:, 1:])
    assert sorted(report.background_dropped) == sorted(
        f"InceptionV4/{h}/{v}" for h in ("Logits/Logits", "AuxLogits/Aux_logits") for v in ("weights", "biases"))


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def small_v4():
    return inception_keras.create_inception_v4(input_shape=SMALL)


def test_checkpoint_of_the_other_graph(small_v4):
    tensors = slim_tensors("inception_resnet_v2_slim", decoys=False)
    with pytest.raises(ConversionError, match="looks like inception_resnet_v2_slim"):
        load_slim_weights(small_v4, tensors, arch="inception_v4")


def test_missing_wrong_shape_and_unexpected_tensors(small_v4, v4_tensors):
    tensors = dict(v4_tensors)
    del tensors["InceptionV4/Mixed_6b/Branch_1/Conv2d_0b_1x7/weights"]
    tensors["InceptionV4/Mixed_5b/Branch_0/Conv2d_0a_1x1/BatchNorm/beta"] = np.zeros(97, "float32")
    tensors["InceptionV4/Mixed_9z/Branch_0/Conv2d_0a_1x1/weights"] = np.zeros((1, 1, 2, 2), "float32")
    with pytest.raises(ConversionError) as info:
        load_slim_weights(small_v4, tensors, arch="inception_v4")
    message = str(info.value)
    assert "Mixed_6b__Branch_1__Conv2d_0b_1x7/kernel  <-  InceptionV4/Mixed_6b/Branch_1/Conv2d_0b_1x7/weights  (expected shape (1, 7, 192, 224))" in message
    assert "Mixed_5b__Branch_0__Conv2d_0a_1x1__BatchNorm/beta (96,)  <-  InceptionV4/Mixed_5b/Branch_0/Conv2d_0a_1x1/BatchNorm/beta (97,)" in message
    assert "InceptionV4/Mixed_9z/Branch_0/Conv2d_0a_1x1/weights (1, 1, 2, 2)" in message


def test_background_mismatch_is_explained(small_v4, v4_tensors):
    with pytest.raises(ConversionError, match=r"classes=1000 but the checkpoint has 1001: keep the background class"):
        load_slim_weights(small_v4, v4_tensors, arch="inception_v4", drop_background=False)
    with pytest.raises(ConversionError, match="TF-slim released"):
        load_slim_weights(small_v4, v4_tensors, arch="inception_resnet_v1")


def test_ema_without_shadows(small_v4, v4_tensors):
    with pytest.raises(ConversionError, match="no ExponentialMovingAverage shadows"):
        load_slim_weights(small_v4, v4_tensors, arch="inception_v4", ema=True)


@pytest.mark.slow
def test_unreadable_checkpoints(tmp_path, v4_v1_checkpoint):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"this is not a checkpoint" * 100)
    with pytest.raises(ConversionError, match="not a readable TensorFlow checkpoint"):
        with open_slim_checkpoint(junk):
            pass
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(open(v4_v1_checkpoint, "rb").read()[:5_000_000])
    with pytest.raises(ConversionError, match="truncated"):
        with open_slim_checkpoint(truncated) as ckpt:
            [ckpt.get(n) for n in ckpt.shapes]
    with pytest.raises(ConversionError, match="no checkpoint at"):
        with open_slim_checkpoint(tmp_path / "nothing_here.ckpt"):
            pass
    with pytest.raises(ConversionError, match="no TensorFlow checkpoint"):
        with open_slim_checkpoint(tmp_path / "empty_dir" if (tmp_path / "empty_dir").mkdir() is None else None):
            pass
    bad_tar = tmp_path / "cut.tar.gz"
    bad_tar.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 100)
    with pytest.raises(ConversionError, match="cannot extract"):
        with open_slim_checkpoint(bad_tar):
            pass


def test_failed_conversion_leaves_no_output(tmp_path, capsys):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"x" * 1000)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc = convert_cli.main(["--checkpoint", str(junk), "--model", "inception_v4", "--output", str(out_dir / "v4.weights.h5")])
    assert rc == 2
    assert "not a readable TensorFlow checkpoint" in capsys.readouterr().err
    assert os.listdir(out_dir) == []


@pytest.mark.slow
def test_weights_path_can_be_a_checkpoint(v4_v1_checkpoint, v4_tensors):
    model = inception_keras.create_inception_v4(input_shape=SMALL, include_top=False, weights=v4_v1_checkpoint)
    np.testing.assert_array_equal(model.get_layer("Mixed_7d__Branch_3__Conv2d_0b_1x1").kernel.numpy(),
                                  v4_tensors["InceptionV4/Mixed_7d/Branch_3/Conv2d_0b_1x1/weights"])
    with pytest.raises(ValueError, match="TF-slim checkpoints exist only for"):
        inception_keras.create_inception_resnet_v1(weights=v4_v1_checkpoint)


# --------------------------------------------------------------------------- #
# weights="imagenet": download through file://, convert once, cache
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def release_mirror(tmp_path_factory, v4_v1_checkpoint):
    """A folder laid out like download.tensorflow.org/models/ with the v4 release tarball."""
    mirror = tmp_path_factory.mktemp("mirror")
    write_release_tarball(str(mirror / "inception_v4_2016_09_09.tar.gz"), v4_v1_checkpoint)
    return mirror


@pytest.mark.slow
def test_imagenet_weights_end_to_end(release_mirror, v4_tensors, tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTION_KERAS_BASE_URL", release_mirror.as_uri())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("INCEPTION_KERAS_WEIGHTS_DIR", raising=False)
    model = inception_keras.create_inception_v4(input_shape=SMALL, weights="imagenet", classifier_activation=None)
    reference = inception_keras.create_inception_v4(input_shape=SMALL, classifier_activation=None)
    assign_directly(reference, v4_tensors, "inception_v4")
    x = np.random.default_rng(0).uniform(-1, 1, (1, *SMALL)).astype("float32")
    np.testing.assert_array_equal(_out(model, x), _out(reference, x))
    cache = tmp_path / "keras_home" / "models" / "inception_keras"
    assert sorted(os.listdir(cache / "presets" / "inception_v4.tf_in1k" / "slim")) == [
        "config.json", "labels.json", "metadata.json", "model.weights.h5", "preprocessing.json"]
    downloads = [f for _, _, files in os.walk(cache / "downloads") for f in files if not f.endswith(".lock")]
    assert downloads == []  # a file:// URL is read where it is, never copied (issue 21: a copy went stale)

    # Second call: from the cache, with neither download nor conversion.
    def forbidden(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr("inception_keras.weights.convert.slim.load_slim_weights", forbidden)
    monkeypatch.setattr("inception_keras.weights.hub.download", forbidden)
    again = inception_keras.create_inception_v4(input_shape=SMALL, weights="imagenet", classifier_activation=None)
    np.testing.assert_array_equal(_out(again, x), _out(reference, x))
    notop = inception_keras.create_inception_v4(input_shape=SMALL, weights="imagenet", include_top=False, pooling="avg")
    np.testing.assert_array_equal(notop.get_layer("Conv2d_1a_3x3").kernel.numpy(),
                                  v4_tensors["InceptionV4/Conv2d_1a_3x3/weights"])
    keep = inception_keras.create_inception_v4(input_shape=SMALL, weights="imagenet", classes=1001)
    np.testing.assert_array_equal(keep.get_layer("Logits__Logits").bias.numpy(),
                                  v4_tensors["InceptionV4/Logits/Logits/biases"])
    with pytest.raises(ValueError, match="needs classes=1000 .or 1001"):
        inception_keras.create_inception_v4(input_shape=SMALL, weights="imagenet", classes=10)


@pytest.mark.slow
def test_imagenet_from_local_folder_when_offline(release_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTION_KERAS_BASE_URL", (tmp_path / "no_such_mirror").as_uri())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("INCEPTION_KERAS_WEIGHTS_DIR", raising=False)
    with pytest.raises(RuntimeError, match=r"download inception_v4_2016_09_09.tar.gz on another machine and put it in"):
        inception_keras.create_inception_v4(input_shape=SMALL, weights="imagenet")
    monkeypatch.setenv("INCEPTION_KERAS_WEIGHTS_DIR", str(release_mirror))
    model = inception_keras.create_inception_v4(input_shape=SMALL, weights="imagenet", include_top=False)
    assert model.get_layer("Conv2d_1a_3x3").kernel.shape == (3, 3, 3, 32)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: inception_keras.create_inception_resnet_v1(weights="imagenet"), "no published weights"),
        (lambda: inception_keras.create_inception_resnet_v2(weights="imagenet"), "variant='slim'"),
        (lambda: inception_keras.create_inception_v4(weights="ens_adv_imagenet"), "inception_resnet_v2_slim"),
    ],
)
def test_imagenet_on_graphs_without_weights(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.slow
def test_presets_agree_with_the_models(zoo):
    for (arch, weights), preset in presets.PRESETS.items():
        model = zoo.get(arch)
        assert model.input_shape[1:3] == (preset.input_size, preset.input_size)
        assert preset.num_classes - preset.label_offset == model.output_shape[-1] == 1000
        assert preset.url == presets.BASE_URL + preset.archive
    assert presets.PRESETS[("inception_resnet_v2_slim", "ens_adv_imagenet")].archive == \
        "ens_adv_inception_resnet_v2_2017_08_18.tar.gz"


def test_scratch_space_of_a_killed_process_is_removed_by_the_next(tmp_path, monkeypatch):
    """Archives are extracted into $TMPDIR/inception-keras/ under names with host and pid: a
    killed extraction's folder is deleted by the next process that makes scratch space, a live
    one's is kept, and nothing outside that folder is touched."""
    import tempfile

    from inception_keras.utils import fileio

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    base = tmp_path / fileio.SCRATCH_FOLDER
    base.mkdir()
    dead = base / f".tmp-inception-keras-extract-extract-{fileio._host()}-999999999-abc"
    alive = base / f".tmp-inception-keras-extract-extract-{fileio._host()}-{os.getpid()}-def"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "model.ckpt.index").write_bytes(b"x" * 10)
    other = tmp_path / ".tmp-abcdefgh"  # someone else's, beside our folder
    other.mkdir()
    with fileio.scratch_dir("extract") as scratch:
        assert os.path.isdir(scratch) and os.path.dirname(scratch) == str(base)
        assert not dead.exists() and alive.exists() and other.exists()
    assert not os.path.exists(scratch)
