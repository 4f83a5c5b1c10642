"""Writing files so that they appear only when complete: a temporary name in the same
folder, then an atomic rename. Used by every tool that writes weights, models or reports."""

from __future__ import annotations

import json
import os
import shutil
import tempfile

TMP_PREFIX = ".tmp-"  # the temporary files and folders written next to their target
_MOVED_ASIDE = "old"  # atomic_save_dir: the replaced folder, inside its temporary folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(save, path, suffix: str = "") -> str:
    """Call ``save(tmp_path)`` and rename the result to ``path``; nothing is left on failure.

    ``suffix`` keeps the extension some writers insist on (``.weights.h5``, ``.keras``).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    try:
        save(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
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


def atomic_save_dir(save, path) -> str:
    """Call ``save(tmp_dir)`` and rename the folder it wrote to ``path``; nothing is left on failure.

    ``tmp_dir`` does not exist yet and lies in a hidden temporary folder next to ``path``, so
    the rename stays on one file system. An existing folder at ``path`` is moved aside first and
    deleted once the new one is in place (the caller decides whether it may be replaced).
    """
    path = os.fspath(path).rstrip(os.sep) or os.sep
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    work = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=directory)
    try:
        tmp = os.path.join(work, "new")
        save(tmp)
        if not os.path.isdir(tmp):
            raise RuntimeError(f"the writer did not create the folder {tmp}")
        old = None
        if os.path.isdir(path):
            old = os.path.join(work, _MOVED_ASIDE)
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if old is not None:
                os.replace(old, path)  # put the previous folder back
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def remove_stale_temporaries(folder, restore: str | None = None) -> list[str]:
    """Delete the temporary files and folders that a killed write left in ``folder``.

    ``restore``: the name of a folder in ``folder`` written with :func:`atomic_save_dir`. A
    kill between moving the previous one aside and renaming the new one in leaves it missing;
    the previous one is then put back (the writer may write it again). Returns what was deleted.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    target = os.path.join(folder, restore) if restore else None
    removed = []
    for name in sorted(os.listdir(folder)):
        if not name.startswith(TMP_PREFIX):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            aside = os.path.join(path, _MOVED_ASIDE)
            if target is not None and not os.path.exists(target) and os.path.isdir(aside):
                os.replace(aside, target)
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
        removed.append(path)
    return removed
