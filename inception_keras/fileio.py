"""Writing files so that they appear only when complete: a temporary name in the same
folder, then an atomic rename. Used by every tool that writes weights, models or reports."""

from __future__ import annotations

import json
import os
import tempfile


def atomic_save(save, path, suffix: str = "") -> str:
    """Call ``save(tmp_path)`` and rename the result to ``path``; nothing is left on failure.

    ``suffix`` keeps the extension some writers insist on (``.weights.h5``, ``.keras``).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_json(path, data) -> str:
    """Write ``data`` as indented JSON, atomically."""

    def save(tmp):
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")

    return atomic_save(save, path, ".json")


def write_bytes(path, data: bytes) -> str:
    """Write ``data`` to ``path``, atomically."""

    def save(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    return atomic_save(save, path)


def write_text(path, text: str) -> str:
    """Write ``text`` (UTF-8) to ``path``, atomically."""
    return write_bytes(path, text.encode("utf-8"))
