"""The suite's own layout: helpers live in tests/helpers/, nothing imports conftest."""

import os
import re

TESTS = os.path.dirname(os.path.abspath(__file__))


def _python_files():
    for folder, dirs, files in os.walk(TESTS):
        dirs[:] = [d for d in dirs if d not in ("data", "__pycache__")]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def test_helpers_live_in_tests_helpers():
    beside = sorted(n for n in os.listdir(TESTS)
                    if n.endswith(".py") and not n.startswith("test_") and n != "conftest.py")
    assert beside == [], f"helper modules belong in tests/helpers/: {beside}"
    assert os.path.isfile(os.path.join(TESTS, "helpers", "__init__.py"))


def test_nothing_imports_conftest():
    """pytest imports conftest.py itself (before any test module); what tests share that is not a
    fixture is in tests/helpers/common.py."""
    found = []
    for path in _python_files():
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if re.match(r"\s*(from\s+conftest\s+import|import\s+conftest\b)", line):
                    found.append(f"{os.path.relpath(path, TESTS)}:{number}")
    assert found == [], f"import from tests/helpers/ instead of conftest: {found}"
