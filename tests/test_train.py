"""tools/train.py and inception_keras.training: recipe, augmentation, data, resume after a
real kill, fine-tuning, tf.distribute on two logical CPUs, errors.

Every run trains Inception-ResNet-v1 (the fastest graph at 75x75 on CPU) on a few dozen
synthetic 80x80 images: horizontal stripes, vertical stripes and plain colour, which the
random crops, flips and colour distortions of the augmentation do not confuse. Runs use
--run-eagerly: on 2 cores a training step costs about 1 s eagerly, and tracing the train
function costs 25-30 s, more than a whole run here.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from inception_keras import create_model, load_preset, preset_info
from inception_keras.cli import train as train_cli
from inception_keras.data.datasets import DataError
from inception_keras.data.preprocessing import Preprocessing, preprocess_for_eval
from inception_keras.utils.fileio import TMP_PREFIX
from inception_keras.weights.format import sha256_file
from inception_keras.data.labels import imagenet_classes
from inception_keras.data.augment import crop_window, preprocess_for_train
from inception_keras.training import (
    TrainConfig,
    TrainingError,
    build_model,
    compile_model,
    learning_rate_schedule,
    load_run_data,
    make_optimizer,
    monitor_key,
    read_checkpoint_state,
    stratified_split,
    train_dataset,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL, SIZE, BATCH = "inception_resnet_v1", 75, 8
CLASSES = ("horizontal", "plain", "vertical")
# 12 images a class, a quarter for validation: 27 training images (+1 broken) = 3 steps of 8.
COMMON = ["--model", MODEL, "--input-size", str(SIZE), "--batch-size", str(BATCH), "--val-fraction", "0.25",
          "--run-eagerly", "--no-progress", "--seed", "3"]
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "TF_CPP_MIN_LOG_LEVEL": "2"}


def stripes(rng, cls, size=80):
    """An image of class ``cls``: stripes of random colours, period and phase, or a plain colour."""
    fg, bg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    while np.abs(fg - bg).sum() < 200:
        fg, bg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    period = int(rng.integers(8, 13))
    on = ((np.arange(size) + int(rng.integers(0, period))) % period) < period // 2
    img = np.empty((size, size, 3), np.uint8)
    img[:] = bg
    if cls == "horizontal":
        img[on, :] = fg
    elif cls == "vertical":
        img[:, on] = fg
    else:
        img[:] = (fg + bg) // 2
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def write_stripes(root, per_class, classes=CLASSES, seed=0, broken=True):
    rng = np.random.default_rng(seed)
    for cls in classes:
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        for i in range(per_class):
            Image.fromarray(stripes(rng, cls)).save(os.path.join(root, cls, f"{i:02d}.png"))
    if broken:
        with open(os.path.join(root, classes[1], "broken.jpg"), "wb") as f:
            f.write(b"\xff\xd8\xff\xe0 a JPEG header and nothing else")
    return str(root)


def read_h5(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_text(path):
    with open(path) as f:
        return f.read()


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def layer_weights(model):
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_stripes(tmp_path_factory.mktemp("stripes"), 12)


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted 3-epoch run with the default recipe (lr lowered for batch 8), through the CLI."""
    out = str(tmp_path_factory.mktemp("runs") / "reference")
    argv = COMMON + ["--data", data, "--epochs", "3", "--lr", "0.002", "--scale-lr", "--output", out]
    assert train_cli.main(argv) == 0
    return {"argv": argv, "out": out}


# --------------------------------------------------------------------------- #
# Recipe pieces
# --------------------------------------------------------------------------- #
def test_learning_rate_schedule_and_optimizer_are_the_papers():
    config = TrainConfig(batch_size=64, lr_scaling="linear")  # --scale-lr
    opt = make_optimizer(config, steps_per_epoch=10)
    assert isinstance(opt, keras.optimizers.RMSprop)
    assert (opt.rho, opt.momentum, opt.epsilon) == (0.9, 0.9, 1.0)
    lr = 0.045 * 64 / 32  # linear scaling from slim's batch of 32
    assert float(opt.learning_rate) == pytest.approx(lr)  # at the optimizer's step 0
    schedule = learning_rate_schedule(config, steps_per_epoch=10)
    for step, expected in [(0, lr), (19, lr), (20, lr * 0.94), (39, lr * 0.94), (40, lr * 0.94**2)]:
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-6), step
    flat = make_optimizer(TrainConfig(batch_size=64, lr_decay=1.0), 10)  # --lr as given (the default)
    assert float(flat.learning_rate) == pytest.approx(0.045)
    assert isinstance(make_optimizer(TrainConfig(optimizer="momentum"), 10), keras.optimizers.SGD)


def test_batchnorm_momentum_and_l2_decay_like_slim():
    config = TrainConfig(model=MODEL, input_size=SIZE)
    model, transfer = build_model(config, 3)
    assert transfer is None
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert bns and all(layer.momentum == 0.9997 for layer in bns)
    assert len(kernels) == sum(1 for w in model.trainable_weights if w.regularizer is not None)
    # slim's l2_regularizer(4e-5) = 4e-5 * sum(w^2) / 2 over every conv and dense kernel
    expected = 4e-5 / 2 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert float(sum(keras.ops.convert_to_numpy(x) for x in model.losses)) == pytest.approx(expected, rel=1e-4)


def _two_head_toy(classes=3):
    inputs = keras.Input((4,))
    main = keras.layers.Activation("softmax", name="Predictions")(keras.layers.Dense(classes, name="Logits__Logits")(inputs))
    aux = keras.layers.Activation("softmax", name="AuxPredictions")(
        keras.layers.Dense(classes, name="AuxLogits__Logits")(inputs))
    return keras.Model(inputs, [main, aux])


def test_auxiliary_head_is_weighted_and_smoothed():
    """Loss = CE_smooth(main) + 0.4 * CE_smooth(aux); top-1 is logged for the main output."""
    model = _two_head_toy()
    config = TrainConfig(aux_logits=True, label_smoothing=0.1, weight_decay=0.0, run_eagerly=True)
    compile_model(model, config, keras.optimizers.SGD(0.0), 3)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2]]
    p_main, p_aux = (np.asarray(p) for p in model(x))
    smooth = y * 0.9 + 0.1 / 3

    def ce(p):
        return float(np.mean(-np.sum(smooth * np.log(p), axis=1)))

    logs = model.evaluate(x, {"Predictions": y, "AuxPredictions": y}, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(ce(p_main) + 0.4 * ce(p_aux), rel=1e-4)
    assert logs["Predictions_top1"] == pytest.approx(np.mean(p_main.argmax(1) == y.argmax(1)))
    history = model.fit(x, {"Predictions": y, "AuxPredictions": y}, validation_data=(x, {"Predictions": y,
                        "AuxPredictions": y}), epochs=1, verbose=0)
    assert monitor_key(config) in history.history


def test_mixed_precision_keeps_the_probabilities_in_float32():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model, _ = build_model(TrainConfig(model=MODEL, input_size=SIZE), 3)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    out = model(np.zeros((1, SIZE, SIZE, 3), "float32"), training=False)
    assert model.get_layer("Conv2d_1a_3x3").compute_dtype == "bfloat16"
    assert out.dtype == tf.float32 and np.allclose(np.sum(out.numpy()), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- #
# Augmentation and data
# --------------------------------------------------------------------------- #
def test_crop_window_follows_slims_ranges():
    areas, aspects = [], []
    for i in range(200):
        begin, size = (t.numpy() for t in crop_window(tf.constant([120, 90, 3]), tf.constant([7, i])))
        h, w = size[:2]
        assert begin[0] + h <= 120 and begin[1] + w <= 90 and begin[2] == 0 and size[2] == -1
        areas.append(h * w / (120 * 90))
        aspects.append(w / h)
    areas, aspects = np.array(areas), np.array(aspects)
    assert areas.min() >= 0.05 - 0.01 and areas.max() <= 1.0
    assert aspects.min() >= 0.75 - 0.03 and aspects.max() <= 1.33 + 0.03  # integer sizes round a little
    assert areas.min() < 0.15 and areas.max() > 0.8  # small and large crops both happen


def test_augmentation_is_stateless_varied_and_in_range():
    rng = np.random.default_rng(0)
    image = tf.constant(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8))
    outs = [preprocess_for_train(image, SIZE, tf.constant([1, i], tf.int64)).numpy() for i in range(12)]
    for out in outs:
        assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.float32
        assert out.min() >= -1.0 and out.max() <= 1.0
    again = preprocess_for_train(image, SIZE, tf.constant([1, 3], tf.int64)).numpy()
    assert np.array_equal(again, outs[3])  # same seed, same image: same result
    assert len({o.tobytes() for o in outs}) == len(outs)
    fast = preprocess_for_train(image, SIZE, tf.constant([1, 3], tf.int64), mode="inception-fast").numpy()
    assert fast.shape == (SIZE, SIZE, 3) and not np.array_equal(fast, outs[3])
    off = preprocess_for_train(image, SIZE, tf.constant([1, 3], tf.int64), mode="none").numpy()
    assert np.array_equal(off, preprocess_for_eval(image, Preprocessing("slim", SIZE)).numpy())


def test_horizontal_flip_happens_about_half_the_time():
    """An image whose left half is black and right half white: after the crop, resize and
    colour distortion, the brighter side tells whether it was flipped."""
    image = np.zeros((80, 80, 3), np.uint8)
    image[:, 40:] = 255
    flipped = 0
    for i in range(40):
        out = preprocess_for_train(tf.constant(image), SIZE, tf.constant([5, i], tf.int64),
                                   mode="inception-fast").numpy()
        left, right = out[:, : SIZE // 4].mean(), out[:, -SIZE // 4 :].mean()
        flipped += left > right
    assert 10 <= flipped <= 30


def test_stratified_split_is_seeded_and_per_class():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3])
    train, val = stratified_split(labels, 0.2, seed=1)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    assert [int(np.sum(labels[val] == c)) for c in range(4)] == [2, 1, 1, 0]  # >= 1 when a class has 2+
    again = stratified_split(labels, 0.2, seed=1)
    assert np.array_equal(again[1], val)
    assert not np.array_equal(stratified_split(labels, 0.2, seed=2)[1], val)


def _write_tfrecords(root, prefix, examples):
    os.makedirs(root, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(root, f"{prefix}-00000-of-00001")) as w:
        for data, label in examples:
            feats = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
                     "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label + 1]))}
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())


def _png(pixels):
    import io

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def test_tfrecord_layout_trains_on_train_shards_and_validates_on_validation_shards(tmp_path):
    rng = np.random.default_rng(0)
    train = [(_png(stripes(rng, CLASSES[i % 3])), 10 + i % 3) for i in range(11)]
    train.insert(4, (b"not an image", 11))
    _write_tfrecords(str(tmp_path), "train", train)
    _write_tfrecords(str(tmp_path), "validation", [(_png(stripes(rng, "plain")), 11)] * 3)
    config = TrainConfig(data=str(tmp_path), output=str(tmp_path / "run"), input_size=SIZE, batch_size=4, seed=1)
    run_data = load_run_data(config)
    assert run_data.train.shards[0].endswith("train-00000-of-00001")
    assert run_data.val.shards[0].endswith("validation-00000-of-00001")
    assert run_data.num_classes == 1000
    assert run_data.bad_indices == [4] and "not a readable image" in run_data.unreadable[0]["error"]
    first = [(x.numpy(), y.numpy()) for x, y in train_dataset(run_data, config, 3, 0, 1)]
    assert len(first) == 3 and all(x.shape == (4, SIZE, SIZE, 3) and y.shape == (4, 1000) for x, y in first)
    labels = np.concatenate([y.argmax(1) for _, y in first])
    assert set(labels.tolist()) <= {10, 11, 12}
    again = [x.numpy() for x, _ in train_dataset(run_data, config, 3, 0, 1)]
    assert all(np.array_equal(a, b) for a, b in zip(again, (x for x, _ in first)))
    second = next(iter(train_dataset(run_data, config, 3, 1, 2)))[0].numpy()
    assert not np.array_equal(second, first[0][0])  # another epoch, another order and augmentation
    with pytest.raises(DataError, match="--classes 5 does not match .* 1000 classes"):
        load_run_data(TrainConfig(data=str(tmp_path), output="x", classes=5))


def test_flat_folder_with_label_file_and_imagenet_synsets(tmp_path):
    rng = np.random.default_rng(0)
    flat = tmp_path / "flat"
    flat.mkdir()
    lines = []
    for i in range(9):
        name = f"img{i}.png"
        Image.fromarray(stripes(rng, CLASSES[i % 3])).save(flat / name)
        lines.append(f"{name} {CLASSES[i % 3]}")
    (flat / "labels.txt").write_text("\n".join(lines) + "\n")
    run_data = load_run_data(TrainConfig(data=str(flat), output="x", val_fraction=0.34, seed=0))
    assert run_data.class_names == list(CLASSES)
    assert len(run_data.train) == 6 and len(run_data.val) == 3
    assert sorted(run_data.val.labels.tolist()) == [0, 1, 2]
    # ImageNet synset folders: --classes equal to the number present trains on those only
    synsets = [s for s, _ in imagenet_classes()][100:103]
    for s in synsets:
        write_stripes(tmp_path / "syn", 3, classes=(s,), broken=False)
        write_stripes(tmp_path / "synval", 1, classes=(s,), broken=False)
    run_data = load_run_data(TrainConfig(data=str(tmp_path / "syn"), val_data=str(tmp_path / "synval"), classes=3,
                                         output="x"))
    assert run_data.class_names == synsets and run_data.val.class_names == synsets
    assert sorted(run_data.val.labels.tolist()) == [0, 1, 2]
    assert run_data.display_names[0] == imagenet_classes()[100][1]
    # best/ of such a run labels its outputs with (synset, name) pairs
    from inception_keras.weights.format import make_labels
    from inception_keras.training.run import best_labels

    pairs = best_labels(run_data)
    assert pairs == [[s, n] for s, n in imagenet_classes()[100:103]]
    assert make_labels(pairs, 3)[0][0] == {"id": 0, "synset": synsets[0], "name": imagenet_classes()[100][1]}
    assert load_run_data(TrainConfig(data=str(tmp_path / "syn"), val_fraction=0.34, output="x")).num_classes == 1000


# --------------------------------------------------------------------------- #
# Whole runs
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_reference_run_writes_everything_and_reports_the_broken_image(reference, data):
    out = reference["out"]
    for name in ("config.json", "classes.txt", "unreadable.json", "checkpoint.weights.h5", "history.csv",
                 "report.json", "report.md"):
        assert os.path.isfile(os.path.join(out, name)), name
    assert os.listdir(os.path.join(out, "logs"))  # TensorBoard: train/ and validation/
    assert os.path.isdir(os.path.join(out, "best"))  # the best epoch as a preset (test_reference_run_best_...)
    assert not os.path.exists(os.path.join(out, "best.weights.h5"))
    for folder in (out, os.path.join(out, "best")):
        assert not [f for f in os.listdir(folder) if f.startswith(TMP_PREFIX)], os.listdir(folder)
    saved = read_json(os.path.join(out, "config.json"))
    assert saved["config"]["lr"] == 0.002 and saved["config"]["label_smoothing"] == 0.1
    assert saved["derived"]["steps_per_epoch"] == 3 and saved["derived"]["effective_lr"] == pytest.approx(0.0005)
    assert saved["derived"]["class_names"] == list(CLASSES)
    assert read_text(os.path.join(out, "classes.txt")).split() == list(CLASSES)
    skipped = read_json(os.path.join(out, "unreadable.json"))["skipped"]
    assert [os.path.basename(s["path"]) for s in skipped] == ["broken.jpg"]
    assert "not a readable image" in skipped[0]["error"]
    rows = read_csv(os.path.join(out, "history.csv"))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [int(r["iterations"]) for r in rows] == [3, 6, 9]
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.0005, 0.0005, 0.0005 * 0.94])  # decay at step 6
    state = read_checkpoint_state(os.path.join(out, "checkpoint.weights.h5"))
    assert state["epoch"] == 3 and state["iterations"] == 9
    assert state["best_val_top1"] == max(float(r["val_top1"]) for r in rows)
    report = read_json(os.path.join(out, "report.json"))
    assert report["data"]["evaluated"] == 9 and report["top1"]["total"] == 9
    assert report["top1"]["accuracy"] == pytest.approx(state["best_val_top1"])  # best/ re-scored
    assert report["weights"] == f"best/ (epoch {state['best_epoch']})"


@pytest.mark.slow
def test_reference_run_best_is_a_preset_of_the_best_epoch(reference):
    """best/ holds the inference graph of the best epoch with the run's classes, input size
    and eval preprocessing, and says where its weights came from."""
    out = reference["out"]
    best = os.path.join(out, "best")
    assert sorted(os.listdir(best)) == ["config.json", "labels.json", "metadata.json", "model.weights.h5",
                                        "preprocessing.json"]
    state = read_checkpoint_state(os.path.join(out, "checkpoint.weights.h5"))
    info = preset_info(best)
    assert info.model == MODEL and info.classes == 3 and not info.arguments["aux_logits"]
    assert info.class_names == list(CLASSES)  # the folder names, in output order
    assert [c["id"] for c in info.labels] == [0, 1, 2] and not info.background
    assert info.input_size == SIZE and info.arguments["input_shape"] == [SIZE, SIZE, 3]
    assert (info.preprocessing["name"], info.preprocessing["input_size"]) == ("slim", SIZE)
    assert info.preprocessing["crop_fraction"] == read_json(os.path.join(out, "config.json"))["config"]["crop_fraction"]
    assert info.to_preprocessing() == Preprocessing("slim", SIZE, 0.875)
    [source] = info.metadata["sources"]
    assert source["uri"] == os.path.abspath(out) and source["weights"] is None  # from scratch
    assert (source["epoch"], source["val_top1"]) == (state["best_epoch"], state["best_val_top1"])
    assert info.metadata["weights"]["sha256"] == sha256_file(os.path.join(best, "model.weights.h5"))

    # load_preset builds it alone; its outputs are the inference graph's with the best weights
    model = load_preset(best)
    assert model.output_shape == (None, 3) and len(model.outputs) == 1
    plain = create_model(MODEL, classes=3, input_shape=(SIZE, SIZE, 3))
    plain.load_weights(os.path.join(best, "model.weights.h5"))  # Keras' own loader, not the preset's
    x = np.random.default_rng(0).uniform(-1, 1, (4, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_loss_goes_down_on_a_learnable_task(data, tmp_path):
    out = str(tmp_path / "learn")
    """From scratch, without augmentation and weight decay (whose term dominates the loss of a
    random network): 9 steps of 8 images take the cross-entropy from about 1.8 to below 1."""
    assert train_cli.main(COMMON + ["--data", data, "--epochs", "3", "--lr", "0.002", "--scale-lr", "--augment", "none",
                                    "--weight-decay", "0", "--bn-momentum", "0.9", "--no-final-eval",
                                    "--output", out]) == 0
    rows = read_csv(os.path.join(out, "history.csv"))
    loss = [float(r["loss"]) for r in rows]
    top1 = [float(r["top1"]) for r in rows]
    assert np.mean(loss[1:]) < 0.65 * loss[0], loss
    assert top1[-1] > top1[0] + 0.2, top1


@pytest.mark.slow
def test_resume_after_a_kill_continues_exactly(reference, tmp_path, capsys):
    """Run tools/train.py, SIGKILL it once epoch 1's checkpoint exists, resume: epoch 2 starts
    at optimizer step 3 and the run ends with the uninterrupted run's weights, optimizer state
    and history, bit for bit (CPU kernels are deterministic here)."""
    out = str(tmp_path / "killed")
    argv = [a if a != reference["out"] else out for a in reference["argv"]]
    ckpt = os.path.join(out, "checkpoint.weights.h5")
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "train.py"), *argv], env=ENV,
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while not os.path.exists(ckpt) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, read_text(tmp_path / "killed.log")[-3000:]
    assert read_checkpoint_state(ckpt)["epoch"] == 1  # killed during epoch 2
    assert not os.path.exists(os.path.join(out, "report.json"))

    capsys.readouterr()
    assert train_cli.main(["--resume", out]) == 0
    captured = capsys.readouterr()
    printed, progress = captured.out, captured.err  # fit's progress (epoch lines) goes to stderr
    assert "at epoch 2/3" in printed and "optimizer iteration 3," in printed
    assert "Epoch 1/3" not in progress and "Epoch 2/3" in progress and "Epoch" not in printed
    # the bar as people read it: top-1 in %, images/s, whole iterations (not top1: 0.0000e+00, iterations: 6.0000)
    assert " - iterations 6 - " in progress and " images/s" in progress and " - val top-1 " in progress
    assert "e+00" not in progress and "top1:" not in progress and "iterations:" not in progress

    mine, theirs = read_h5(ckpt), read_h5(os.path.join(reference["out"], "checkpoint.weights.h5"))
    assert mine.keys() == theirs.keys() and any(k.startswith("optimizer") for k in mine)
    different = [k for k in mine if not np.array_equal(mine[k], theirs[k])]
    assert not different, different[:5]
    assert read_checkpoint_state(ckpt)["iterations"] == 9
    def metrics(path):  # every column but the timing
        return [{k: v for k, v in row.items() if k != "images_per_second"} for row in read_csv(path)]

    assert metrics(os.path.join(out, "history.csv")) == metrics(os.path.join(reference["out"], "history.csv"))
    ref_report = read_json(os.path.join(reference["out"], "report.json"))
    assert read_json(os.path.join(out, "report.json"))["top1"] == ref_report["top1"]
    # best/ kept being written on resume: the uninterrupted run's, bit for bit
    mine, theirs = (read_json(os.path.join(d, "best", "metadata.json")) for d in (out, reference["out"]))
    assert mine["weights"]["sha256"] == theirs["weights"]["sha256"]
    assert mine["weights"]["sha256"] == sha256_file(os.path.join(out, "best", "model.weights.h5"))
    assert [{k: v for k, v in src.items() if k != "uri"} for src in mine["sources"]] == \
        [{k: v for k, v in src.items() if k != "uri"} for src in theirs["sources"]]
    for name in ("config.json", "labels.json", "preprocessing.json"):
        assert read_json(os.path.join(out, "best", name)) == read_json(os.path.join(reference["out"], "best", name))
    assert not [f for f in os.listdir(out) if f.startswith(TMP_PREFIX)]


@pytest.mark.slow
def test_fine_tuning_swaps_the_head_and_keeps_the_backbone(reference, tmp_path):
    best = os.path.join(reference["out"], "best")  # the reference run's preset folder
    source = create_model(MODEL, classes=3, input_shape=(SIZE, SIZE, 3), weights=best)
    expected = layer_weights(source)
    config = TrainConfig(model=MODEL, input_size=SIZE, weights=best)
    model, transfer = build_model(config, 2)
    assert transfer.new == ["Logits__Logits"] and transfer.source_classes == 3
    got = layer_weights(model)
    assert set(transfer.copied) == set(got) - {"Logits__Logits"}
    for name in transfer.copied:
        assert all(np.array_equal(a, b) for a, b in zip(got[name], expected[name])), name
    assert got["Logits__Logits"][0].shape == (1792, 2)

    # Two epochs on two classes: the head alone first, then everything but BatchNorm.
    data = write_stripes(tmp_path / "two", 6, classes=("horizontal", "vertical"), seed=5, broken=False)
    out = str(tmp_path / "tuned")
    assert train_cli.main(COMMON + ["--data", data, "--weights", best, "--classes", "2", "--epochs", "2",
                                    "--freeze-backbone-epochs", "1", "--no-bn-trainable", "--save-every-epoch",
                                    "--no-final-eval", "--output", out]) == 0
    epochs = []
    for n in (1, 2):
        m = create_model(MODEL, classes=2, input_shape=(SIZE, SIZE, 3),
                         weights=os.path.join(out, "epochs", f"epoch-{n:03d}.weights.h5"))
        epochs.append(layer_weights(m))
    bn = {layer.name for layer in source.layers if isinstance(layer, keras.layers.BatchNormalization)}
    for name in transfer.copied:  # epoch 1: the backbone is the source's, BatchNorm statistics included
        assert all(np.array_equal(a, b) for a, b in zip(epochs[0][name], expected[name])), name
    changed = [n for n in transfer.copied if n not in bn
               and not all(np.array_equal(a, b) for a, b in zip(epochs[1][n], expected[n]))]
    assert len(changed) > 0.9 * len([n for n in transfer.copied if n not in bn])  # epoch 2: backbone trained
    for name in bn:  # ... but not BatchNorm (--no-bn-trainable)
        assert all(np.array_equal(a, b) for a, b in zip(epochs[1][name], expected[name])), name
    assert not np.array_equal(epochs[0]["Logits__Logits"][0], epochs[1]["Logits__Logits"][0])
    saved = read_json(os.path.join(out, "config.json"))
    assert "new head: Logits__Logits" in saved["derived"]["weights"]
    tuned = preset_info(os.path.join(out, "best"))  # the new run's preset: its classes, its source
    assert tuned.class_names == ["horizontal", "vertical"] and tuned.metadata["sources"][0]["weights"] == best
    assert [int(r["epoch"]) for r in read_csv(os.path.join(out, "history.csv"))] == [0, 1]  # both phases


# One step of 8 images with BatchNorm synchronised over the replicas, then validation on 12
# images in batches of 4 (2 + 2 per replica: eager MirroredStrategy cannot evaluate uneven
# per-replica batches such as 2 + 1, and an empty one, from a last batch of one image, meets
# TF 2.21's oneDNN Conv2D, which returns its input's shape for an empty batch on CPU:
# tf.nn.conv2d of a (0, 8, 8, 3) input gives (0, 8, 8, 3)). No dropout: replicas draw their
# own masks.
DISTRIBUTED = COMMON + ["--epochs", "1", "--steps-per-epoch", "1", "--lr", "0.002", "--scale-lr", "--dropout", "0",
                        "--val-fraction", "0.34", "--eval-batch-size", "4", "--no-final-eval"]


@pytest.fixture(scope="module")
def one_device(data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("one") / "run")
    assert train_cli.main(DISTRIBUTED + ["--data", data, "--output", out]) == 0
    return out


def assert_same_training(one, other, tmp_path):
    """Same losses (measured: 1e-5 relative) and weights (measured: 1e-4 where one step moved
    them 1e-3; BatchNorm synchronised over replicas sums in another order)."""
    rows = [read_csv(os.path.join(d, "history.csv"))[0] for d in (one, other)]
    for key in ("loss", "val_loss", "top1", "val_top1"):
        assert float(rows[1][key]) == pytest.approx(float(rows[0][key]), rel=2e-4), key
    a, b = (read_h5(os.path.join(d, "best", "model.weights.h5")) for d in (one, other))
    keras.utils.set_random_seed(3)  # the runs' initial weights: same seed, same construction
    init_path = str(tmp_path / "init.weights.h5")
    create_model(MODEL, classes=3, input_shape=(SIZE, SIZE, 3), dropout_rate=0.0).save_weights(init_path)
    start = read_h5(init_path)
    floats = [k for k in a if a[k].dtype.kind == "f" and a[k].size]
    moved = max(float(np.max(np.abs(a[k] - start[k]))) for k in floats)
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in floats)
    assert worst < 0.2 * moved, (worst, moved)


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(data, one_device, tmp_path):
    """The global batch of 8 split 4 + 4 over two logical CPUs gives one device's training."""
    script = (
        "import sys, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from inception_keras.cli.train import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    out = str(tmp_path / "two")
    proc = subprocess.run([sys.executable, "-c", script, *DISTRIBUTED, "--data", data, "--strategy", "mirrored",
                           "--output", out], env=ENV, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    derived = read_json(os.path.join(out, "config.json"))["derived"]
    assert (derived["replicas"], derived["per_replica_batch"]) == (2, 4)
    assert_same_training(one_device, out, tmp_path)


def _free_ports(n):
    import socket

    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


@pytest.mark.slow
def test_multiworker_on_two_processes_matches_one_device(data, one_device, tmp_path):
    """Two workers (processes) in TF_CONFIG, 4 images each: one device's training; only the
    chief (worker 0) writes the run folder."""
    cluster = [f"localhost:{port}" for port in _free_ports(2)]
    out = str(tmp_path / "workers")
    procs = []
    for index in range(2):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": {"worker": cluster},
                                               "task": {"type": "worker", "index": index}})}
        log = open(tmp_path / f"worker{index}.log", "w")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "train.py"), *DISTRIBUTED,
                                        "--data", data, "--strategy", "multiworker", "--output", out],
                                       env=env, stdout=log, stderr=subprocess.STDOUT), log))
    for proc, log in procs:
        try:
            proc.wait(timeout=600)
        finally:
            proc.kill()
            log.close()
    logs = [read_text(tmp_path / f"worker{i}.log") for i in range(2)]
    assert [p.returncode for p, _ in procs] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    assert all("2 replica(s)" in text and "done: 1 epochs" in text for text in logs)
    assert read_json(os.path.join(out, "config.json"))["derived"]["replicas"] == 2
    assert_same_training(one_device, out, tmp_path)


def test_history_rows_of_epochs_run_again_are_dropped(tmp_path):
    """A kill after the CSV row of an epoch but before its checkpoint: that epoch runs again on
    resume, so its row goes."""
    from inception_keras.training import truncate_history

    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,1.5\n1,1.2\n2,1.1\n")
    truncate_history(str(path), 2)
    assert path.read_text().splitlines() == ["epoch,loss", "0,1.5", "1,1.2"]
    truncate_history(str(path), 5)
    assert path.read_text().splitlines() == ["epoch,loss", "0,1.5", "1,1.2"]


def test_a_kill_while_best_is_replaced_leaves_no_temporary_and_keeps_best(tmp_path):
    """What a resumed run cleans up first: a half-written temporary file or preset folder goes;
    a kill between moving the old best/ aside and renaming the new one in puts the old one back."""
    from inception_keras.utils.fileio import remove_stale_temporaries

    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "model.weights.h5").write_text("epoch 1")
    (tmp_path / f"{TMP_PREFIX}half" / "new").mkdir(parents=True)  # killed while save_preset wrote the new folder
    (tmp_path / f"{TMP_PREFIX}file.json").write_text("{")  # killed during write_json
    assert len(remove_stale_temporaries(tmp_path, restore="best", own_folder=True)) == 2 and os.listdir(tmp_path) == ["best"]
    between = tmp_path / f"{TMP_PREFIX}between"  # killed between the two renames
    (between / "new").mkdir(parents=True)
    os.replace(tmp_path / "best", between / "old")
    assert remove_stale_temporaries(tmp_path, restore="best", own_folder=True) == [str(between)]
    assert (tmp_path / "best" / "model.weights.h5").read_text() == "epoch 1"
    assert not [f for f in os.listdir(tmp_path) if f.startswith(TMP_PREFIX)]


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_bad_inputs_say_what_to_do(reference, data, tmp_path, capsys):
    def fails(argv, message):
        assert train_cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err, err

    fails(COMMON + ["--data", str(tmp_path / "nowhere"), "--output", str(tmp_path / "a")],
          "data path not found")
    fails(COMMON + ["--data", data, "--classes", "5", "--output", str(tmp_path / "b")],
          "--classes 5 does not match the training data, which has 3 classes")
    empty = tmp_path / "empty"
    empty.mkdir()
    fails(["--resume", str(empty)], "holds no training run")
    fails(["--resume", str(tmp_path / "missing")], "no such folder")
    fails(["--resume", reference["out"], "--lr", "0.1"], "--lr (the run has 0.002)")
    fails(COMMON + ["--data", data, "--output", reference["out"]], "already holds a run: continue it with --resume")
    fails(COMMON + ["--data", data], "pass --output DIR")
    fails(COMMON + ["--data", data, "--aux-logits", "--output", str(tmp_path / "c")], "--aux-logits needs --input-size 299")
    fails(COMMON + ["--data", data, "--weights", str(tmp_path / "nope.weights.h5"), "--output", str(tmp_path / "d")],
          "weights file not found")
    fails(COMMON + ["--data", data, "--weights", reference["out"], "--output", str(tmp_path / "e")],
          f"is a training run's folder; its best model is the preset {os.path.join(reference['out'], 'best')!r}")
    for name in "abcde":
        assert not (tmp_path / name / "config.json").exists()
    with pytest.raises(TrainingError, match="--freeze-backbone-epochs"):
        TrainConfig(output="x", data="y", epochs=2, freeze_backbone_epochs=3).check()


@pytest.mark.slow
def test_resume_refuses_new_options_and_fewer_epochs(reference, capsys):
    before = read_h5(os.path.join(reference["out"], "checkpoint.weights.h5"))
    assert train_cli.main(["--resume", reference["out"], "--no-final-eval"]) == 2  # options cannot change
    capsys.readouterr()
    # An option that conflicts is refused whatever its value, even the parser's default ...
    assert train_cli.main(["--resume", reference["out"], "--model", "inception_v4"]) == 2
    assert f"--model (the run has '{MODEL}')" in capsys.readouterr().err
    # ... and one that agrees with the run, or only says how to show it, is not (the run is finished).
    assert train_cli.main(["--resume", reference["out"], "--model", MODEL, "--verbose", "--no-progress"]) == 0
    capsys.readouterr()
    with pytest.raises(TrainingError, match="fewer than the run's 3"):
        from inception_keras.training import resume

        resume(reference["out"], epochs=2)
    after = read_h5(os.path.join(reference["out"], "checkpoint.weights.h5"))
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_resume_of_a_finished_run_says_so_and_does_nothing(reference, capsys):
    report = os.path.join(reference["out"], "report.json")
    files = {name: os.path.getmtime(os.path.join(reference["out"], name))
             for name in ("report.json", "report.md", "checkpoint.weights.h5", "history.csv")}
    assert train_cli.main(["--resume", reference["out"], "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # stdout is the JSON summary alone
    assert summary["epochs"] == 3 and summary["initial_epoch"] == 3 and summary["history"] == {}
    assert summary["best_val_top1"] == read_json(os.path.join(reference["out"], "checkpoint.json"))["best_val_top1"]
    assert "already finished its 3 epochs" in captured.err
    assert "evaluating" not in captured.out + captured.err
    assert {name: os.path.getmtime(os.path.join(reference["out"], name)) for name in files} == files
    assert os.path.isfile(report)


def test_other_keras_backends_are_refused(monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    from inception_keras.training import train

    with pytest.raises(TrainingError, match="KERAS_BACKEND=tensorflow"):
        train(TrainConfig(output="x", data="y"))


def test_strategy_errors_name_the_fix():
    from inception_keras.training import make_strategy

    env = os.environ.pop("TF_CONFIG", None)
    try:
        with pytest.raises(TrainingError, match="TF_CONFIG"):
            make_strategy(TrainConfig(strategy="multiworker"))
    finally:
        if env is not None:
            os.environ["TF_CONFIG"] = env


def _edited_run(reference, tmp_path, **config):
    """The reference run's files with config.json edited (its checkpoint linked, not copied)."""
    out = tmp_path / "edited"
    out.mkdir()
    for name in ("checkpoint.weights.h5", "unreadable.json", "classes.txt"):
        os.symlink(os.path.join(reference["out"], name), out / name)
    saved = read_json(os.path.join(reference["out"], "config.json"))
    saved["config"].update(config)
    (out / "config.json").write_text(json.dumps(saved))
    return str(out)


@pytest.mark.slow
def test_resume_with_an_edited_graph_names_the_file_before_loading(reference, tmp_path, capsys):
    """config.json's model edited: the checkpoint records its graph, so --resume says which file
    disagrees, in a few lines, before a model is built (not 282 objects that could not be loaded)."""
    out = _edited_run(reference, tmp_path, model="inception_v4")
    assert train_cli.main(["--resume", out, "--epochs", "4"]) == 2
    err = capsys.readouterr().err
    assert f"{out}/config.json does not describe the graph {out}/checkpoint.weights.h5 was written by" in err
    assert f"it says model 'inception_v4' (the checkpoint's: '{MODEL}')" in err
    assert len(err) < 1000 and "could not be loaded" not in err
    assert read_checkpoint_state(os.path.join(out, "checkpoint.weights.h5"))["graph"] == {
        "model": MODEL, "classes": 3, "input_size": SIZE, "aux_logits": False}


@pytest.mark.slow
def test_weights_that_do_not_fit_are_one_short_error(reference):
    """A checkpoint without a graph record (earlier versions) into another graph: one error naming
    both files, no Keras warning per object."""
    import warnings

    from inception_keras.training import load_checkpoint

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="Logits__Logits")], name="toy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TrainingError, match=r"checkpoint.weights.h5 do not fit the graph run/config.json "
                                                r"describes \(toy\): .*start a new run") as info:
            load_checkpoint(model, os.path.join(reference["out"], "checkpoint.weights.h5"), config="run/config.json")
    assert len(str(info.value)) < 600 and not caught


def test_a_full_disk_names_the_checkpoint(tmp_path, monkeypatch):
    import errno

    from inception_keras.training import save_checkpoint

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("inception_keras.training.checkpoint.atomic_save", full)
    path = str(tmp_path / "checkpoint.weights.h5")
    with pytest.raises(OSError, match=f"^cannot write {path}: No space left on device; free space on that disk"):
        save_checkpoint(None, path, {"epoch": 1})


def test_training_data_with_a_file_name_that_is_not_utf8(tmp_path):
    """tf.data takes UTF-8 strings only: such a file is trained on like the others (read by its bytes)."""
    data = write_stripes(tmp_path / "d", 3, classes=("horizontal", "vertical"), broken=False)
    os.rename(os.path.join(data, "vertical", "00.png"), os.fsencode(os.path.join(data, "vertical")) + b"/caf\xe9.png")
    config = TrainConfig(data=data, output="x", model=MODEL, input_size=SIZE, batch_size=6, val_fraction=0.0,
                         val_data=data, augment="none")
    run_data = load_run_data(config, log=lambda message: None)
    assert not run_data.unreadable and len(run_data.train) == 6 and run_data.fingerprint()
    images, _ = next(iter(train_dataset(run_data, config, 1, 0, 1)))
    assert images.shape == (6, SIZE, SIZE, 3)  # every image, the one with the Latin-1 name included
