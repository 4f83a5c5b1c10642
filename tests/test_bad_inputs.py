"""The reliability suite: bad inputs as a table (tests/bad_inputs.py has the row type and runner).

Each row gives the tool and its arguments, what it makes, the exit code, a phrase the message
must contain, and the files that must or must not exist afterwards; a new bad input costs one
row in one of the tables: ``bad_inputs_data.py`` (images and label files: predict, evaluate),
``bad_inputs_files.py`` (checkpoints, weights, outputs: converters, export, train)."""

import pytest

import bad_inputs_data  # noqa: F401 - its rows
import bad_inputs_files  # noqa: F401 - its rows
from bad_inputs import CASES, run_case


@pytest.mark.parametrize("row", [c.param for c in CASES])
def test_bad_input(row, tmp_path, capsys):
    run_case(row, tmp_path, capsys)
