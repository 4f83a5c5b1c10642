"""The row type and the runner of the reliability suite (tests/test_bad_inputs.py)."""

from __future__ import annotations

import dataclasses
import glob
import importlib
import os
from typing import Callable

import pytest

TOOLS = ("predict", "evaluate", "train", "benchmark", "export", "models", "plot", "convert", "convert_timm", "deploy_report")


@dataclasses.dataclass
class Case:
    """One bad input.

    Either ``tool`` (a module of inception_keras.cli, run in-process as ``main(argv)``, which must
    return ``code``) or ``call`` (a function of the values, which must raise ``raises``). The
    message (stderr and stdout of the tool, or the exception text) must contain ``phrase``;
    ``exists`` / ``absent`` are glob patterns, relative to the case's folder, that must match
    something / nothing afterwards."""

    id: str
    make: Callable[[os.PathLike], dict] = lambda tmp: {}
    tool: str | None = None
    argv: tuple[str, ...] = ()
    code: int = 2
    call: Callable[[dict], object] | None = None
    raises: type[BaseException] = ValueError
    phrase: str = ""
    exists: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    marks: tuple = ()

    def __post_init__(self):
        if (self.tool is None) == (self.call is None):
            raise ValueError(f"case {self.id}: give a tool or a call, not both")
        if self.tool is not None and self.tool not in TOOLS:
            raise ValueError(f"case {self.id}: unknown tool {self.tool!r}")

    @property
    def param(self):
        return pytest.param(self, id=self.id, marks=list(self.marks))


CASES: list[Case] = []


def case(**kwargs) -> Case:
    """Define a row and add it to the suite."""
    row = Case(**kwargs)
    if any(c.id == row.id for c in CASES):
        raise ValueError(f"two cases are called {row.id!r}")
    CASES.append(row)
    return row


def run_case(row: Case, tmp_path, capsys) -> None:
    values = {"tmp": tmp_path, **(row.make(tmp_path) or {})}
    if row.tool is not None:
        argv = [a.format(**{k: str(v) for k, v in values.items()}) for a in row.argv]
        module = importlib.import_module(f"inception_keras.cli.{row.tool}")
        try:
            code = module.main(argv)
        except SystemExit as e:  # argparse's usage errors exit 2 with a message
            code = e.code
        captured = capsys.readouterr()
        message = captured.err + captured.out
        assert code == row.code, f"exit {code}, expected {row.code}; said:\n{message[-3000:]}"
        assert "Traceback" not in message, message[-3000:]
    else:
        with pytest.raises(row.raises) as info:
            row.call(values)
        message = str(info.value)
    assert row.phrase in message, f"{row.phrase!r} not in:\n{message[-3000:]}"
    assert len(message) < 5000, f"a {len(message)}-character message: cap it"
    for pattern in row.exists:
        assert glob.glob(os.path.join(tmp_path, pattern)), f"{pattern} should exist"
    for pattern in row.absent:
        found = glob.glob(os.path.join(tmp_path, pattern), recursive=True)
        assert not found, f"{pattern} should not exist: {found}"
