"""tools/predict.py over many images: inputs, output files, embeddings, resuming, shards, Ray.

One small classifier (Inception-ResNet-v1 at 75x75, 5 classes, weights saved once) and a
handful of generated images serve every test; library-level runs share one traced predictor."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import inception_keras
from inception_keras.cli import predict as predict_cli
from inception_keras.data.preprocessing import Preprocessing, load_for_eval
from inception_keras.inference import Outputs, Predictor, resolve, run
from inception_keras.inference.chunks import PartsFolder, ResumeError
from inception_keras.inference.columns import prediction_columns
from inception_keras.inference.run import batch_size_of, manifest

from helpers.common import randomize_batchnorm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 75
NAMES = ["alpha", "beta", "gamma", "delta", "epsilon"]
PREP = Preprocessing("slim", SIZE, 0.875)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """(model, weights file, labels file)."""
    folder = tmp_path_factory.mktemp("model")
    model = inception_keras.create_model("inception_resnet_v1", input_shape=(SIZE, SIZE, 3), classes=len(NAMES))
    randomize_batchnorm(model, np.random.default_rng(7))
    weights = str(folder / "small.weights.h5")
    model.save_weights(weights)
    labels = folder / "labels.txt"
    labels.write_text("\n".join(NAMES) + "\n")
    return model, weights, str(labels)


def cli_model(classifier):
    _, weights, labels = classifier
    return ["--model", "inception_resnet_v1", "--weights", weights, "--classes", str(len(NAMES)), "--labels", labels,
            "--input-size", str(SIZE), "--top", "3"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of 10 images in nested sub-folders (JPEG and PNG, several sizes) and a broken one."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    for i in range(10):
        sub = root / ("a" if i < 5 else os.path.join("b", "c"))
        sub.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)  # smooth: a blown-up 8x8 pattern
        img = Image.fromarray(base).resize((90 + 7 * i, 80 + 5 * i), Image.BILINEAR)
        img.save(sub / (f"{i}.png" if i % 3 == 0 else f"{i}.jpg"), **({} if i % 3 == 0 else {"quality": 95}))
    (root / "a" / "junk.jpg").write_bytes(b"\xff\xd8\xff not an image")
    return root


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """30 small JPEGs (one is not an image): a run long enough to be killed in the middle."""
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(9)
    for i in range(30):
        base = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        Image.fromarray(base).resize((76 + i, 80), Image.BILINEAR).save(root / f"{i:02d}.jpg", quality=90)
    (root / "13.jpg").write_bytes(b"not an image")
    return root


@pytest.fixture(scope="module")
def records(photos, tmp_path_factory):
    """The same images as two TF-slim TFRecord shards, image/filename holding each file's path."""
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("records")
    files = resolve([str(photos)]).files
    for s, part in enumerate((files[:6], files[6:])):
        with tf.io.TFRecordWriter(str(folder / f"train-{s:05d}-of-00002")) as w:
            for path in part:
                feats = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[open(path, "rb").read()])),
                         "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[path.encode()]))}
                w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    return folder


@pytest.fixture(scope="module")
def predictor(classifier):
    return Predictor(classifier[0], NAMES, PREP, top=3, embeddings=True, name="inception_resnet_v1")


def table(rows, index_by="path"):
    """rows (dict of columns) -> {key: {column: value}}, the embedding as a list."""
    out = {}
    for i in range(len(rows["path"])):
        row = {k: (list(map(float, v[i])) if k == "embedding" and v[i] is not None else v[i]) for k, v in rows.items()}
        out[row[index_by]] = row
    return out


def assert_same_rows(a: dict, b: dict, skip=()):
    assert list(a) == list(b)
    for key in a:
        for col, value in a[key].items():
            if col in skip:
                continue
            other = b[key][col]
            if isinstance(value, float) or col == "embedding" and value is not None:
                np.testing.assert_allclose(value, other, rtol=1e-5, atol=1e-6, err_msg=f"{key} {col}")
            else:
                assert value == other, (key, col)


def read_parquet(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pydict()


# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_folders_globs_list_files_and_tfrecords_give_the_same_rows(photos, records, predictor, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("".join(os.path.relpath(p, tmp_path) + "\n" for p in resolve([str(photos)]).files))
    by_folder = run(predictor, resolve([str(photos)]), Outputs(), progress=False).table
    assert len(by_folder["path"]) == 11 and sum(e is not None for e in by_folder["error"]) == 1
    assert by_folder["path"] == sorted(by_folder["path"])
    expected = table(by_folder)
    for inputs in ([f"{photos}/**/*.*"], [str(listing), str(photos / "a")]):  # (duplicates are one row)
        assert_same_rows(expected, table(run(predictor, resolve(inputs), Outputs(), progress=False).table))
    from_records = run(predictor, resolve([str(records)]), Outputs(), progress=False).table
    assert from_records["path"][0].endswith("train-00000-of-00002") and from_records["record"][:3] == [0, 1, 2]
    assert_same_rows(expected, table(from_records, "filename"), skip=("path", "record", "filename"))
    junk = next(r for r in from_records["error"] if r)
    assert "not a readable image" in junk


@pytest.mark.slow
def test_output_files_equal_model_predict_and_embeddings_the_headless_model(photos, classifier, tmp_path, capsys):
    model, _, _ = classifier
    out, emb = tmp_path / "preds.parquet", tmp_path / "emb.npy"
    assert predict_cli.main([str(photos), *cli_model(classifier), "--output", str(out), "--embeddings", str(emb),
                             "--chunk-size", "4", "--batch-size", "3"]) == 0
    said = capsys.readouterr()
    assert "11 images, 1 unreadable (see the error column)" in said.out and "images/s" in said.err
    assert not (tmp_path / "preds.parquet.parts").exists()  # removed once assembled
    for fmt in ("csv", "jsonl"):  # the merge of one unsharded output converts formats
        assert predict_cli.main(["--merge", str(out), "--output", str(tmp_path / f"preds.{fmt}")]) == 0
    rows = read_parquet(out)
    with open(tmp_path / "preds.jsonl") as f:
        jsonl = [json.loads(line) for line in f]
    import csv
    with open(tmp_path / "preds.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert len(jsonl) == len(csv_rows) == len(rows["path"]) == 11

    ok = [i for i, e in enumerate(rows["error"]) if e is None]
    bad = [i for i in range(11) if i not in ok]
    assert [rows["path"][i] for i in bad] == [str(photos / "a" / "junk.jpg")]
    assert "not a readable image" in rows["error"][bad[0]] and rows["top1_id"][bad[0]] is None
    assert csv_rows[bad[0]]["top1_id"] == "" and jsonl[bad[0]]["top1_prob"] is None
    x = np.stack([load_for_eval(rows["path"][i], PREP) for i in ok])
    reference = model.predict(x, verbose=0)
    for n, i in enumerate(ok):
        order = np.argsort(-reference[n])[:3]
        for j in range(3):
            expected_id = int(order[j])
            for source in (rows, {k: [r[k] for r in jsonl] for k in jsonl[0]}):
                assert source[f"top{j + 1}_id"][i] == expected_id
                assert source[f"top{j + 1}_name"][i] == NAMES[expected_id]
                np.testing.assert_allclose(source[f"top{j + 1}_prob"][i], reference[n][expected_id], atol=1e-5)
            assert int(csv_rows[i][f"top{j + 1}_id"]) == expected_id
            np.testing.assert_allclose(float(csv_rows[i][f"top{j + 1}_prob"]), reference[n][expected_id], atol=1e-5)
    assert "top1_synset" not in rows  # 5 classes: no synsets

    # Embeddings: the same weights without the head, pooling="avg"
    headless = inception_keras.create_model("inception_resnet_v1", input_shape=(SIZE, SIZE, 3), include_top=False,
                                            pooling="avg")
    for layer in headless.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    features = np.load(emb)
    assert features.shape == (10, 1792) and features.dtype == np.float32
    np.testing.assert_allclose(features, np.asarray(headless(x, training=False)), rtol=1e-4, atol=1e-5)
    with open(tmp_path / "emb.index.csv") as f:
        assert [line.strip() for line in f][1:] == [rows["path"][i] for i in ok]
    meta = json.loads((tmp_path / "preds.parquet.meta.json").read_text())
    assert meta["rows"] == 11 and meta["unreadable"] == 1 and meta["shard"] == "0/1" and meta["embeddings"] == "emb.npy"


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_bytes_of_an_uninterrupted_one(many, classifier, tmp_path, capsys):
    """A run in a subprocess is killed (SIGKILL) once it has written a chunk; meanwhile a second
    run on the same output is refused. The rerun does only the missing chunks, and its file (rows,
    probabilities and embeddings as JSON numbers) is byte for byte the one an uninterrupted run
    writes: every batch has the same shape (chunks of 4 and batches of 3 do not line up)."""
    out = tmp_path / "preds.jsonl"

    def command(output):
        return [str(many), *cli_model(classifier), "--output", str(output), "--embeddings", "--chunk-size", "4",
                "--batch-size", "3", "--no-progress"]

    argv = command(out)
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from inception_keras.cli.predict import main; "
                             "raise SystemExit(main(sys.argv[1:]))", *argv],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = tmp_path / "preds.jsonl.parts"
    deadline = time.monotonic() + 120
    try:
        while not glob.glob(str(parts / "chunk-*.npz")):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no chunk written in 120 s"
            time.sleep(0.005)
        assert predict_cli.main(argv) == 2  # the same command again, while the first one runs
        refused = capsys.readouterr().err
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert f"another run is writing to {out} (pid {proc.pid} on " in refused, refused
    assert not out.exists(), "the run finished before it was killed: make it longer"
    done = sorted(int(os.path.basename(p)[6:12]) for p in glob.glob(str(parts / "chunk-*.npz")))
    assert 1 <= len(done) < 8 and os.path.isfile(parts / "manifest.json")
    images = sum(min(4, 30 - 4 * k) for k in done)
    assert predict_cli.main(argv) == 0
    said = capsys.readouterr().out
    assert f"skipped {len(done)} finished chunks of 8 ({images} of 30 images)" in said
    assert f"{30 - images} predicted" in said
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in rows] == resolve([str(many)]).files  # each image once, in order
    assert sum(r["error"] is not None for r in rows) == 1
    assert not parts.exists() and not os.path.exists(f"{out}.lock")

    reference = tmp_path / "uninterrupted.jsonl"
    assert predict_cli.main(command(reference)) == 0
    assert out.read_bytes() == reference.read_bytes()


@pytest.mark.slow
def test_chunks_of_unknown_origin_are_never_resumed(photos, predictor, tmp_path):
    sources = resolve([str(photos)])
    expected = run(predictor, sources, Outputs(), progress=False).table
    out = tmp_path / "preds.jsonl"
    parts = tmp_path / "preds.jsonl.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"model": "inception_v4", "weights_sha')  # cut short
    bogus = {"row": np.arange(4), "error": np.asarray([""] * 4), "filename": np.asarray([""] * 4),
             "ids": np.zeros((4, 3), np.int64), "probs": np.ones((4, 3), np.float32)}
    np.savez(parts / "chunk-000000.npz", **bogus)
    said = []
    result = run(predictor, sources, Outputs(str(out)), chunk_size=4, progress=False, on_resume=said.append)
    assert len(said) == 1 and said[0].startswith(f"{parts} holds 1 chunk but an unreadable manifest.json (")
    assert said[0].endswith("), so what made them is unknown: deleted them, starting over")
    assert result.skipped_chunks == 0 and result.images == 11
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["top1_prob"] for r in rows] == expected["top1_prob"]

    # Under a manifest of this run: a chunk that does not hold its rows is named, never used
    columns = prediction_columns(3, synsets=False, records=False, embedding=False)
    out2 = str(tmp_path / "again.jsonl")
    folder = PartsFolder(out2 + ".parts", manifest(predictor, sources, 4, columns, batch_size_of(32, sources)))
    folder.open()
    folder.write(1, bogus)  # rows 0..3 in the place of chunk 1
    with pytest.raises(ResumeError, match=r"chunk-000001.npz does not hold rows 4..7 of this run .*; delete it"):
        run(predictor, sources, Outputs(out2), chunk_size=4, progress=False)
    assert not os.path.exists(out2)


def test_a_file_name_that_is_not_utf8_is_predicted_and_shown_escaped(predictor, tmp_path):
    folder = os.fsencode(tmp_path / "photos")
    os.mkdir(folder)
    for name, value in ((b"caf\xe9.png", 60), (b"ok.png", 128)):
        Image.fromarray(np.full((80, 80, 3), value, np.uint8)).save(os.path.join(folder, name))
    out = tmp_path / "preds.csv"
    run(predictor, resolve([os.fsdecode(folder)]), Outputs(str(out)), progress=False)
    import csv
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    photos = tmp_path / "photos"
    assert [r["path"] for r in rows] == [str(photos / "caf\\xe9.png"), str(photos / "ok.png")]
    assert [r["error"] for r in rows] == ["", ""]


def test_a_rerun_with_other_arguments_is_refused(photos, predictor, tmp_path):
    sources = resolve([str(photos)])
    out = str(tmp_path / "preds.csv")
    columns = prediction_columns(3, synsets=False, records=False, embedding=False)
    PartsFolder(out + ".parts", manifest(predictor, sources, 4, columns, batch_size_of(32, sources))).open()
    with pytest.raises(ResumeError) as info:
        run(predictor, sources, Outputs(out), chunk_size=5, progress=False)
    message = str(info.value)
    assert "chunk_size (4 there, 5 now)" in message and f"delete {out}.parts to start over" in message
    assert not os.path.exists(out)


@pytest.mark.slow
def test_shard_outputs_merge_to_the_unsharded_result(photos, records, predictor, tmp_path, capsys):
    """Byte for byte: the shards batch their images otherwise (other chunk sizes, other
    neighbours) but every batch has the same shape, so each image gets the same numbers."""
    inputs = resolve([str(photos), str(records)])  # 11 files and 2 TFRecord shards: 13 sources, 22 rows
    full = tmp_path / "full.parquet"
    run(predictor, inputs, Outputs(str(full), embeddings_in_predictions=True), chunk_size=4, batch_size=3,
        progress=False)
    shards = [tmp_path / f"part-{i}.parquet" for i in range(3)]
    sizes = []
    for i, path in enumerate(shards):
        part = inputs.shard_of(i, 3)
        sizes.append(len(part))
        run(predictor, part, Outputs(str(path), embeddings_in_predictions=True), chunk_size=3, batch_size=3,
            progress=False)
    assert sum(sizes) == 22 and min(sizes) > 0
    merged = tmp_path / "merged.parquet"
    assert predict_cli.main(["--merge", str(tmp_path / "part-*.parquet"), "--output", str(merged),
                             "--embeddings", str(tmp_path / "merged.npy")]) == 0
    expected = read_parquet(full)
    got = read_parquet(merged)
    assert "embedding" not in got and got == {k: v for k, v in expected.items() if k != "embedding"}
    ok = [i for i, e in enumerate(expected["error"]) if e is None]
    assert np.array_equal(np.load(tmp_path / "merged.npy"), np.asarray([expected["embedding"][i] for i in ok],
                                                                       np.float32))
    for name, sources in (("full.csv", [str(full)]), ("merged.csv", [str(p) for p in shards])):
        assert predict_cli.main(["--merge", *sources, "--output", str(tmp_path / name),
                                 "--embeddings", str(tmp_path / (name + ".npy"))]) == 0
    assert (tmp_path / "full.csv").read_bytes() == (tmp_path / "merged.csv").read_bytes()
    assert (tmp_path / "full.csv.npy").read_bytes() == (tmp_path / "merged.csv.npy").read_bytes()
    capsys.readouterr()

    def fails(argv, phrase):
        assert predict_cli.main(argv) == 2
        err = capsys.readouterr().err
        assert phrase in err, err
        assert not (tmp_path / "bad.parquet").exists()

    fails(["--merge", str(shards[0]), str(shards[2]), "--output", str(tmp_path / "bad.parquet")],
          "1 of 3 shards are missing: 1/3")
    fails(["--merge", *map(str, shards), str(shards[1]), "--output", str(tmp_path / "bad.parquet")],
          "shard 1/3 is given twice")
    other = tmp_path / "other.parquet"  # shard 1 of other inputs (the folder alone)
    run(predictor, resolve([str(photos)]).shard_of(1, 3), Outputs(str(other), embeddings_in_predictions=True),
        progress=False)
    fails(["--merge", str(shards[0]), str(other), str(shards[2]), "--output", str(tmp_path / "bad.parquet")],
          "was made with other arguments than")


@pytest.mark.slow
def test_ray_engine_gives_the_rows_of_the_local_engine(photos, classifier, predictor, tmp_path, capsys):
    import ray  # the batch extra, pulled in by the test extra
    local = run(predictor, resolve([str(photos)]), Outputs(), progress=False).table
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}})
    try:
        out = tmp_path / "ray.parquet"
        assert predict_cli.main([str(photos), *cli_model(classifier), "--output", str(out), "--engine", "ray",
                                 "--ray-workers", "2", "--chunk-size", "4", "--batch-size", "3", "--no-progress"]) == 0
    finally:
        ray.shutdown()
    got = read_parquet(out)
    assert_same_rows(table({k: v for k, v in local.items() if k != "embedding"}), table(got))


@pytest.mark.parametrize("case", ["missing", "empty", "extension", "shard-3/3", "shard-x/2", "layer"])
def test_bad_inputs_exit_2_and_write_nothing(case, photos, classifier, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = str(tmp_path / "out.parquet")
    args = {"missing": ([str(tmp_path / "nowhere")], "input not found"),
            "empty": ([str(tmp_path / "empty")], "no images in the folder"),
            "extension": ([str(photos), "--output", str(tmp_path / "out.txt")], "unknown extension '.txt'"),
            "shard-3/3": ([str(photos), "--shard", "3/3"], "I must be in 0..2"),
            "shard-x/2": ([str(photos), "--shard", "x/2"], "expected I/N"),
            "layer": ([str(photos), "--embeddings", "--layer", "Mixed_9z"], "has no layer of that name")}[case]
    argv, phrase = args
    if "--output" not in argv:
        argv = [*argv, "--output", out]
    try:
        code = predict_cli.main([*argv, *cli_model(classifier)])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    said = capsys.readouterr()
    assert code == 2 and phrase in said.err, said.err
    assert "Traceback" not in said.err
    assert os.listdir(tmp_path) == ["empty"], os.listdir(tmp_path)
