"""Quiet start-up: no TensorFlow, absl or oneDNN chatter on stderr (tools, and Ray's workers)."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to /dev/null (C++ logs written before absl is initialised)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_startup(verbose: bool = False) -> None:
    """No TensorFlow, absl or oneDNN chatter unless ``verbose``.

    TensorFlow's C++ logging honours ``TF_CPP_MIN_LOG_LEVEL`` (3: errors are raised as Python
    exceptions anyway) except for the lines written while its shared libraries load, before absl
    is initialised; those are dropped by importing TensorFlow with the process' stderr pointed
    at /dev/null. Python-side TensorFlow and absl loggers are set to errors only."""
    if verbose:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" not in sys.modules:
        try:
            with native_stderr_silenced():
                import tensorflow  # noqa: F401, PLC0415
        except ImportError:
            return
    import logging  # noqa: PLC0415

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        import absl.logging  # noqa: PLC0415

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
