"""The package's own error types, to be caught by type rather than by the text of a message.

Each is a ``ValueError``, so that code (and tools) catching ``ValueError`` keep working.
This module imports nothing from the package: any module can raise these.

Example:
    >>> import inception_keras
    >>> try:
    ...     inception_keras.create_model("inception_v3")
    ... except inception_keras.UnknownModelError as e:
    ...     print(type(e).__name__)
    UnknownModelError
"""

from __future__ import annotations


class UnknownModelError(ValueError):
    """A model reference that is none of: a graph of the zoo (``list_models()``), a named
    preset or alias (``list_pretrained()``), a URI (``hf://``, ``kaggle://``, ``https://``,
    ``file://``) or an existing path. The message lists what is accepted."""


class NoPretrainedWeightsError(ValueError):
    """Pretrained weights asked for (``pretrained=True``) of a graph that was never published
    with weights (``inception_resnet_v1``, the paper's ``inception_resnet_v2``). The message
    names the graphs that have them."""


__all__ = ["UnknownModelError", "NoPretrainedWeightsError"]
