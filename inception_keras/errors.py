"""The package's own error types, to be caught by type rather than by the text of a message.

Each is a ``ValueError``, so that code (and tools) catching ``ValueError`` keep working.
The model layer's own error, :class:`UnknownModelError`, is defined there (the layer imports
nothing else of the package) and named here with the others.

Example:
    >>> import inception_keras
    >>> try:
    ...     inception_keras.create_model("inception_v3")
    ... except inception_keras.UnknownModelError as e:
    ...     print(type(e).__name__)
    UnknownModelError
"""

from __future__ import annotations

import os

from .models.registry import UnknownModelError


class NoPretrainedWeightsError(ValueError):
    """Pretrained weights asked for (``pretrained=True``) of a graph that was never published
    with weights (``inception_resnet_v1``, the paper's ``inception_resnet_v2``). The message
    names the graphs that have them."""


class PresetError(ValueError):
    """A folder or URI that is not a usable preset; the message names the file and the fix."""


class PresetFileError(PresetError):
    """A file of a preset folder with a missing, mistyped or out-of-range value, or one that
    contradicts the weights file; ``path`` is the file, ``key`` the value (``arguments.classes``)."""

    def __init__(self, path, key: str, problem: str):
        super().__init__(f"{path}: {key!r} {problem}" if key else f"{path}: {problem}")
        self.path = os.fspath(path)
        self.key = key


class CorruptPresetError(PresetError):
    """A preset whose weights file does not match the sha256 recorded when it was written."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


class UnknownPresetError(UnknownModelError, PresetError):
    """A reference that is neither a graph, a named preset, a URI nor an existing path: an
    :class:`UnknownModelError` that is also a ``PresetError``."""


__all__ = ["UnknownModelError", "NoPretrainedWeightsError", "PresetError", "PresetFileError", "CorruptPresetError",
           "UnknownPresetError"]
