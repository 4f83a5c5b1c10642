"""Writing files so that they appear only when complete: a temporary name in the same
folder, then an atomic rename. Used by every tool that writes weights, models or reports.

Temporary names say what they are and who writes them::

    .tmp-inception-keras-<purpose>-<target>-<host>-<pid>-<random><suffix>

(``.tmp-inception-keras-convert-v4.weights.h5-box1-4242-k3j9x_2a.weights.h5``). A kill leaves
them behind; :func:`remove_stale_temporaries` deletes those of a process that is gone: written
on this host by a pid that no longer runs. Another host's temporaries (a shared file system)
are stale only after :data:`STALE_SECONDS` without a change, as are the unnamed ``.tmp-XXXXXXXX``
files and folders of earlier versions. A process still running is never disturbed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time

from filelock import FileLock, Timeout, lock_descriptor

TMP_PREFIX = ".tmp-"  # the temporary files and folders written next to their target
OUR_PREFIX = TMP_PREFIX + "inception-keras-"
STALE_SECONDS = 24 * 3600  # age after which a temporary whose writer cannot be checked is stale
_MOVED_ASIDE = "old"  # atomic_save_dir: the replaced folder, inside its temporary folder
_NAMED = re.compile(re.escape(OUR_PREFIX) + r"[a-z]+-.*-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[a-z0-9_]+(\..*)?$")
_LEGACY = re.compile(re.escape(TMP_PREFIX) + r"[a-z0-9_]{8}(\.(weights\.h5|keras|onnx|tflite|json|csv))?$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname().split(".")[0])[:32] or "host"


def temporary_prefix(path, purpose: str = "write") -> str:
    """The start of a temporary name for ``path`` (its folder included): purpose, target, host, pid."""
    folder, target = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, f"{OUR_PREFIX}{purpose}-{target[:60]}-{_host()}-{os.getpid()}-")


def make_temporary_dir(path, purpose: str = "write") -> str:
    """A new hidden folder next to ``path`` named by :func:`temporary_prefix`."""
    prefix = temporary_prefix(path, purpose)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    return tempfile.mkdtemp(prefix=os.path.basename(prefix), dir=os.path.dirname(prefix))


def make_temporary_file(path, suffix: str = "", purpose: str = "write") -> str:
    """A new empty hidden file next to ``path`` named by :func:`temporary_prefix`, ending in ``suffix``."""
    prefix = temporary_prefix(path, purpose)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(prefix), suffix=suffix, dir=os.path.dirname(prefix))
    os.close(fd)
    return tmp


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True


def is_stale_temporary(path, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary of ours that no running writer will use again."""
    name = os.path.basename(os.fspath(path))
    m = _NAMED.match(name)
    if m and m.group("host") == _host():
        return int(m.group("pid")) != os.getpid() and not _pid_running(int(m.group("pid")))
    if m or _LEGACY.match(name):
        try:
            age = (now or time.time()) - os.lstat(path).st_mtime
        except FileNotFoundError:
            return False
        return age > STALE_SECONDS
    return False


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_save(save, path, suffix: str = "", purpose: str = "write") -> str:
    """Call ``save(tmp_path)`` and rename the result to ``path``; nothing is left on failure.

    ``suffix`` keeps the extension some writers insist on (``.weights.h5``, ``.keras``);
    ``purpose`` goes into the temporary name (``convert``, ``export``...).
    """
    path = os.fspath(path)
    tmp = make_temporary_file(path, suffix, purpose)
    try:
        save(tmp)
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


@contextlib.contextmanager
def folder_lock(folder):
    """Hold an exclusive lock on ``folder`` (filelock's flock of the folder itself: no lock file is left).

    Writers that rename several files into one folder hold it, so that the files of one writer
    end up together. Where a folder cannot be locked (Windows, some network file systems) it is a no-op.
    """
    if os.name == "nt":  # (a folder cannot be opened as a file there)
        yield
        return
    fd = os.open(os.fspath(folder), os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):
            lock_descriptor(fd)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def unwritable_folder(folder) -> tuple[str, str] | None:
    """``(where, why)`` when no file could be written into ``folder``, None when one can.

    A missing ``folder`` is judged by its nearest existing ancestor, where its folders would be
    made: ``why`` is "a file, not a folder" or "not writable (reason)". A probe file is made
    and removed; nothing else is created."""
    # Ours: no dependency checks a folder before the work starts (tools refuse early, writing nothing).
    existing = os.path.abspath(os.fspath(folder))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return existing, "a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=os.path.basename(temporary_prefix(existing, "probe")), dir=existing)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        return existing, f"not writable ({e.strerror or e})"
    return None


def check_output_folder(folder, contents: str, flag: str = "--output") -> None:
    """Raise OSError, saying what to give instead, when the tool's output folder (``flag``, made
    if missing) could not receive ``contents`` (words for the error: "the PNGs"): it is a file,
    or no file could be written there. Creates nothing."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OSError(f"{flag} {folder} is a file; give a folder for {contents}")
    problem = unwritable_folder(folder)
    if problem:
        raise OSError(f"cannot write {contents} into {flag} {folder}: {problem[0]} is {problem[1]}; "
                      f"give a writable folder")


def writable_folder_problem(path) -> str | None:
    """Why a new file could not be written next to ``path`` (None: it can)."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        return f"the folder {folder} does not exist"
    problem = unwritable_folder(folder)
    return None if problem is None else f"the folder {problem[0]} is {problem[1]}"


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


def atomic_save_dir(save, path, purpose: str = "write") -> str:
    """Call ``save(tmp_dir)`` and rename the folder it wrote to ``path``; nothing is left on failure.

    ``tmp_dir`` does not exist yet and lies in a hidden temporary folder next to ``path``, so
    the rename stays on one file system. An existing folder at ``path`` is moved aside first and
    deleted once the new one is in place (the caller decides whether it may be replaced).
    """
    path = os.fspath(path).rstrip(os.sep) or os.sep
    work = make_temporary_dir(path, purpose)
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


def remove_stale_temporaries(folder, restore: str | None = None, *, own_folder: bool = False) -> list[str]:
    """Delete the temporary files and folders that a killed write left in ``folder``.

    Only stale ones (:func:`is_stale_temporary`), unless ``own_folder``: the folder belongs to
    the caller alone (a training run's), so every ``.tmp-*`` in it is a leftover.
    ``restore``: the name of a folder in ``folder`` written with :func:`atomic_save_dir`. A
    kill between moving the previous one aside and renaming the new one in leaves it missing;
    the previous one is then put back (the writer may write it again). Returns what was deleted.
    Never raises for a temporary it cannot delete (another user's, a read-only folder).
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    target = os.path.join(folder, restore) if restore else None
    removed = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    now = time.time()
    for name in names:
        path = os.path.join(folder, name)
        if not name.startswith(TMP_PREFIX) or not (own_folder or is_stale_temporary(path, now)):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            aside = os.path.join(path, _MOVED_ASIDE)
            if target is not None and not os.path.exists(target) and os.path.isdir(aside):
                os.replace(aside, target)
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                continue
        removed.append(path)
    return removed


class OverwriteError(ValueError):
    """An output would replace a file that this project did not write, or one of the inputs."""


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(os.fspath(a)) == os.path.abspath(os.fspath(b))


def check_overwrite(path, *, ours: bool, inputs=(), overwrite: bool = False, flag: str = "--output") -> None:
    """Raise :class:`OverwriteError` when writing ``path`` would silently replace something.

    ``path`` may always be replaced when it does not exist. It is refused when it is one of
    ``inputs`` (always: ``overwrite`` does not make reading and writing one file safe), and when
    it exists but ``ours`` is False (the caller's judgement that this project wrote it: a
    sidecar, embedded metadata) unless ``overwrite`` is set. ``flag`` names the option in the message."""
    path = os.fspath(path)
    for source in inputs:
        if source is not None and os.path.exists(path) and _same_file(path, source):
            raise OverwriteError(f"{flag} {path} is also an input; write the result to another file")
    if os.path.lexists(path) and not ours and not overwrite:
        raise OverwriteError(f"{flag} {path} already exists and was not written by inception-keras; "
                             f"give another path, or pass --overwrite to replace it")


class WriteError(OSError):
    """Writing a file failed; the message names the file, the reason and what to do."""

    def __str__(self) -> str:
        return self.args[0] if self.args else "write failed"


def write_failure(path, error: OSError) -> OSError:
    """``error`` (an OSError from writing ``path``) as one line that names the path: ``No space
    left on device`` alone does not say which disk. An error that already names it is returned as it is."""
    path = os.fspath(path)
    if isinstance(error, WriteError) or (error.filename is not None and os.fspath(error.filename) == path):
        return error
    reason = error.strerror or str(error) or type(error).__name__
    where = f" ({error.filename})" if error.filename is not None else ""
    hint = {28: "free space on that disk, or write somewhere else",  # ENOSPC
            122: "free space within your quota, or write somewhere else",  # EDQUOT
            13: "give a folder you can write to",  # EACCES
            30: "give a folder on a writable file system"}.get(error.errno, "check the folder and try again")
    failure = WriteError(f"cannot write {path}: {reason}{where}; {hint}")
    failure.errno, failure.strerror, failure.filename = error.errno, error.strerror, path
    return failure


@contextlib.contextmanager
def naming_path(path):
    """Raise OSErrors from inside as :func:`write_failure` of ``path`` (the file being written)."""
    try:
        yield
    except OSError as e:
        failure = write_failure(path, e)
        if failure is e:
            raise
        raise failure from e


def display_path(path) -> str:
    """``path`` printable and writable as UTF-8: bytes that are not UTF-8 in a file name (kept by
    Python as surrogates) shown as ``\\xe9``."""
    if isinstance(path, bytes):
        return path.decode("utf-8", "backslashreplace")
    return os.fspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class BusyError(RuntimeError):
    """Another process is writing the same output (it holds the output's lock)."""


LOCK_MARK = "inception-keras lock"
LOCK_WAIT = 0.5  # seconds output_lock waits: long enough for a holder that is deleting its lock file


def _lock_holder(lock: str) -> str:
    """``pid N on HOST`` from a lock file written by :func:`output_lock` ("" when unknown)."""
    try:
        with open(lock, encoding="utf-8", errors="replace") as f:
            words = f.read(200).split()
    except OSError:
        return ""
    return f"pid {words[3]} on {words[2]}" if len(words) >= 4 and " ".join(words[:2]) == LOCK_MARK else ""


@contextlib.contextmanager
def output_lock(path, what: str = "run", hint: str = "wait for it to finish, or write somewhere else"):
    """Hold ``path + '.lock'`` (a :class:`filelock.FileLock`) while writing ``path`` (and its
    companions), waiting at most :data:`LOCK_WAIT` seconds: :class:`BusyError` naming the holder
    when another process holds it.

    The lock file says who holds it (host, pid); the holder deletes it when done, and one that a
    killed writer left is simply taken (the kernel released it). A file of that name that is not
    such a lock is refused, never deleted. Folders made for the lock file are removed with it
    when nothing else was written into them."""
    path = os.fspath(path)
    lock = path + ".lock"
    made, folder = [], os.path.dirname(os.path.abspath(lock))
    while not os.path.exists(folder):
        made.append(folder)
        folder = os.path.dirname(folder)
    os.makedirs(os.path.dirname(os.path.abspath(lock)), exist_ok=True)

    def claim(fd: int) -> None:
        head = os.pread(fd, 200, 0).decode("utf-8", "replace")
        if head.strip() and not head.startswith(LOCK_MARK):
            raise BusyError(f"{lock} exists and is not a lock of inception-keras; move it away, or write "
                            f"{path} somewhere else")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{LOCK_MARK} {_host()} {os.getpid()}\n".encode(), 0)

    try:
        held = FileLock(lock, timeout=LOCK_WAIT, on_acquired=claim)
        held.acquire()
    except Timeout:
        holder = _lock_holder(lock)
        raise BusyError(f"another {what} is writing to {path} ({f'{holder}, ' if holder else ''}holding {lock}); "
                        f"{hint}") from None
    except OSError as e:  # no flock on this file system (some network ones): go on unlocked
        if e.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
        held = None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(lock)  # while still holding it: a waiter that locked the deleted file tries again
        if held is not None:
            held.release()
        for folder in made:  # (deepest first; one that holds anything stays)
            try:
                os.rmdir(folder)
            except OSError:
                break


SCRATCH_FOLDER = "inception-keras"  # under the system's temporary folder: scratch space of ours alone


@contextlib.contextmanager
def scratch_dir(purpose: str):
    """A new folder for work files (an extracted archive), removed on exit.

    It lives in ``$TMPDIR/inception-keras/`` under a name that says host and pid, so that the
    folder a killed process left is deleted by the next one that makes scratch space
    (:func:`remove_stale_temporaries`), and nothing of other programs is ever touched."""
    base = os.path.join(tempfile.gettempdir(), SCRATCH_FOLDER)
    os.makedirs(base, exist_ok=True)
    remove_stale_temporaries(base)
    folder = make_temporary_dir(os.path.join(base, purpose), purpose)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
