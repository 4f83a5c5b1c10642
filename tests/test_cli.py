"""Command-line tools, called in-process through their main(argv)."""

import json
import os

import pytest

from inception_keras.cli import models as models_cli
from inception_keras.utils.fileio import TMP_PREFIX


@pytest.mark.slow
def test_models_table_and_json(tmp_path, capsys):
    out = tmp_path / "models.json"
    assert models_cli.main(["--model", "inception_resnet_v1", "inception_v4", "--input-size", "75",
                            "--classes", "10", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "inception_resnet_v1" in printed and "inception_v4" in printed and "75x75x3" in printed
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == ["inception_resnet_v1", "inception_v4"]
    assert rows[1]["params"] == 42_711_400 - 1536 * 990 - 990  # 10 classes instead of 1000
    assert f"{rows[1]['params']:,}" in printed
    assert rows[0]["output"] == [10] and rows[0]["features"] == 1792
    assert [n for _, dirs, files in os.walk(tmp_path) for n in dirs + files if n.startswith(TMP_PREFIX)] == []


def test_models_unknown_name(capsys):
    assert models_cli.main(["--model", "resnet50"]) == 2
    assert "unknown model" in capsys.readouterr().err  # errors go to stderr


def test_models_bad_size(capsys):
    assert models_cli.main(["--model", "inception_v4", "--input-size", "64"]) == 2
    assert "at least 75" in capsys.readouterr().err
