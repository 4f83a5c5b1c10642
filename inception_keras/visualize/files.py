"""Writing drawings: dot text, or PNG/SVG through a Graphviz ``dot`` program, atomically.

The ``dot`` program is the system's when one is on PATH (the faster), else the one of the
graphviz-pure wheel, a dependency of inception-keras: ``pip install inception-keras`` draws
with no system package (:func:`dot_program`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.metadata
import io
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import keras
from PIL import Image

from ..utils.fileio import write_bytes
from .dot import FORMATS, to_dot

WHEEL = "graphviz-pure"
"""The PyPI package (and its program's name) that draws when Graphviz is not installed: a port of
Graphviz's ``dot`` command line, with fonts, PNG and SVG, in one self-contained program."""
INSTALL_HINT = (
    "no Graphviz 'dot' program was found, and PNG/SVG drawings need one: 'dot' is not on PATH and the "
    f"{WHEEL} package is not installed; install either with `pip install {WHEEL}` (a dependency of "
    "inception-keras, on platforms it has wheels for), `apt-get install graphviz`, `conda install graphviz` "
    "or `brew install graphviz` (--format dot needs only pydot)"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Cairo cannot draw bitmaps taller or wider than this; Graphviz then shrinks the whole drawing.
PNG_MAX_SIDE = 32767


class GraphvizNotFoundError(RuntimeError):
    """PNG or SVG was asked for, but there is no Graphviz ``dot`` program: none on PATH, no graphviz-pure."""


class RenderError(RuntimeError):
    """Graphviz ran but failed."""


# =========================================================================== #
# Graphviz: the system's dot, else graphviz-pure's
# =========================================================================== #
def dot_program() -> str:
    """The path of the ``dot`` program to draw with, looked up on every call.

    ``dot`` on PATH first (a system Graphviz: apt, conda, brew), else the program of the
    graphviz-pure wheel (:func:`bundled_dot`). For pydot: ``graph.create(prog=dot_program(),
    format="png")``; for ``keras.utils.plot_model``, see :func:`graphviz_on_path`.

    Raises:
        GraphvizNotFoundError: neither is installed; the message says how to install one.
    """
    program = shutil.which("dot") or bundled_dot()
    if program is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    return program


def graphviz_available() -> bool:
    """Whether a ``dot`` program is installed: on PATH, or graphviz-pure's (:func:`dot_program`)."""
    try:
        dot_program()
    except GraphvizNotFoundError:
        return False
    return True


def bundled_dot() -> str | None:
    """The path of the graphviz-pure wheel's program, or None when the wheel is not installed.

    Read from the wheel's list of installed files, so that it is found when the environment's
    ``bin`` folder is not on PATH (a virtual environment's python run by its path, without
    ``activate``); else ``graphviz-pure`` on PATH (``pipx install graphviz-pure``).
    """
    return _installed_program(WHEEL) or shutil.which(WHEEL)


@functools.lru_cache(maxsize=None)
def _installed_program(package: str) -> str | None:
    """The executable named ``package`` that the installed distribution ``package`` holds, or None."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name in (package, f"{package}.exe"):
            path = Path(dist.locate_file(file)).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


@contextlib.contextmanager
def graphviz_on_path():
    """Within it, ``dot`` on PATH is a Graphviz program, for code that runs ``dot`` by name:
    ``keras.utils.plot_model`` and pydot's default ``prog``. Yields the program's path.

        with visualize.graphviz_on_path():
            keras.utils.plot_model(model, "model.png", show_shapes=True)

    With ``dot`` already on PATH nothing changes. Else a temporary folder holding a link named
    ``dot`` to graphviz-pure's program goes first on PATH (graphviz-pure lays out with the engine
    it is named after), and Keras's check for Graphviz, which asks ``dot`` for PostScript (an
    output graphviz-pure does not write), is answered by :func:`dot_program` instead. Both are
    undone on exit.

    Raises:
        GraphvizNotFoundError: neither a system ``dot`` nor graphviz-pure is installed.
    """
    system = shutil.which("dot")
    if system is not None:
        yield system
        return
    program = dot_program()
    with tempfile.TemporaryDirectory(prefix="inception-keras-dot-") as folder:
        link = Path(folder) / ("dot.exe" if os.name == "nt" else "dot")
        _link(program, link)
        saved = os.environ.get("PATH")
        os.environ["PATH"] = folder + (os.pathsep + saved if saved else "")
        try:
            with _keras_finds_graphviz():
                yield str(link)
        finally:
            if saved is None:
                os.environ.pop("PATH", None)
            else:
                os.environ["PATH"] = saved


def _link(program: str, link: Path) -> None:
    """``link`` runs ``program``: a symbolic link, else a hard link, else a copy (Windows without privileges)."""
    for make in (os.symlink, os.link, shutil.copy2):
        try:
            make(program, link)
            return
        except OSError:
            continue
    raise GraphvizNotFoundError(f"could not link {program} as {link} (a symbolic link, a hard link or a copy)")


@contextlib.contextmanager
def _keras_finds_graphviz():
    """Keras's ``check_graphviz`` (which runs ``dot -Tps``) replaced by a check that pydot imports."""
    try:
        from keras.src.utils import model_visualization  # noqa: PLC0415 - only plot_model needs it
    except ImportError:  # another Keras layout: its own check runs
        yield
        return
    saved = getattr(model_visualization, "check_graphviz", None)
    if saved is None:
        yield
        return
    model_visualization.check_graphviz = model_visualization.check_pydot
    try:
        yield
    finally:
        model_visualization.check_graphviz = saved


# =========================================================================== #
# Files
# =========================================================================== #
@dataclasses.dataclass(frozen=True)
class Written:
    """What :func:`write` wrote: the path, its size, PNG pixels and Graphviz's warnings."""

    path: Path
    format: str
    bytes: int
    width: int | None = None
    height: int | None = None
    warnings: tuple[str, ...] = ()


def write(graph, path, fmt: str | None = None, *, png_colors: int | None = 16) -> Written:
    """Write a pydot graph as ``fmt`` ("png", "svg" or "dot"; default: from the suffix).

    The file appears complete or not at all: it is written under a temporary name in
    the same folder, then renamed. PNGs are reduced to ``png_colors`` grey levels
    (the drawings are black, white and grey), which makes them 3x smaller.

    Raises:
        GraphvizNotFoundError: PNG or SVG without a ``dot`` program (:func:`dot_program`).
        RenderError: Graphviz failed.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    text = graph.to_string()
    warnings = ()
    if fmt == "dot":
        data = text.encode("utf-8")
    else:
        data, warnings = _run_dot(text, fmt)
        if fmt == "png" and png_colors:
            data = _fewer_colors(data, png_colors)
    width = height = None
    if fmt == "png":
        width, height = png_size(data)
    write_bytes(path, data)
    return Written(path, fmt, len(data), width, height, warnings)


def render(model: keras.Model, path, fmt: str | None = None, **to_dot_kwargs) -> Written:
    """``write(to_dot(model, **to_dot_kwargs), path, fmt)``."""
    return write(to_dot(model, **to_dot_kwargs), path, fmt)


def _run_dot(text: str, fmt: str) -> tuple[bytes, tuple[str, ...]]:
    program = dot_program()
    args = [program, f"-T{fmt}"]
    if fmt == "svg":
        args.append("-Gdpi=72")  # Graphviz scales SVGs by dpi/72; vector output needs no dpi
    result = subprocess.run(args, input=text.encode("utf-8"), capture_output=True, check=False)
    stderr = result.stderr.decode("utf-8", "replace").strip()
    if result.returncode != 0 or not result.stdout:
        raise RenderError(f"Graphviz '{program} -T{fmt}' failed (exit status {result.returncode}): {stderr}")
    return result.stdout, tuple(line for line in stderr.splitlines() if line.strip())


def _fewer_colors(data: bytes, colors: int) -> bytes:
    step = 255 / (colors - 1)  # evenly spaced greys, black and white included
    palette = Image.new("P", (1, 1))
    palette.putpalette([round(i * step) for i in range(colors) for _ in range(3)])
    with Image.open(io.BytesIO(data)) as image:
        grey = image.convert("L").convert("RGB").quantize(palette=palette, dither=Image.Dither.NONE)
        out = io.BytesIO()
        grey.save(out, format="PNG", optimize=True)
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])
