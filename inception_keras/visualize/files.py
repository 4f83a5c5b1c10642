"""Writing drawings: dot text, or PNG/SVG through Graphviz's dot program, atomically."""

from __future__ import annotations

import dataclasses
import shutil
import struct
import subprocess
from pathlib import Path

import keras

from ..fileio import write_bytes
from .dot import FORMATS, to_dot

INSTALL_HINT = (
    "Graphviz's 'dot' program is not on PATH, and PNG/SVG drawings need it: install it with "
    "`apt-get install graphviz`, `conda install graphviz` or `brew install graphviz` "
    "(--format dot needs only pydot)"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Cairo cannot draw bitmaps taller or wider than this; Graphviz then shrinks the whole drawing.
PNG_MAX_SIDE = 32767


class GraphvizNotFoundError(RuntimeError):
    """PNG or SVG was asked for, but the Graphviz ``dot`` program is not on PATH."""


class RenderError(RuntimeError):
    """Graphviz ran but failed."""


def graphviz_available() -> bool:
    """Whether the Graphviz ``dot`` program is on PATH (looked up on every call)."""
    return shutil.which("dot") is not None



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
        GraphvizNotFoundError: PNG or SVG without the ``dot`` program.
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
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    args = [program, f"-T{fmt}"]
    if fmt == "svg":
        args.append("-Gdpi=72")  # Graphviz scales SVGs by dpi/72; vector output needs no dpi
    result = subprocess.run(args, input=text.encode("utf-8"), capture_output=True, check=False)
    stderr = result.stderr.decode("utf-8", "replace").strip()
    if result.returncode != 0 or not result.stdout:
        raise RenderError(f"Graphviz 'dot -T{fmt}' failed (exit status {result.returncode}): {stderr}")
    return result.stdout, tuple(line for line in stderr.splitlines() if line.strip())


def _fewer_colors(data: bytes, colors: int) -> bytes:
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415 - pillow is a dependency; only PNGs need it

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
