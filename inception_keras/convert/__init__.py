"""Checkpoint converters: TF-slim (``slim``), sharing the strict machinery of ``core``."""

from .core import ConversionError, ConversionReport, DictSource, TensorSource
from .slim import SLIM_ARCHS, load_slim_weights, open_slim_checkpoint, slim_variable_names

__all__ = [
    "ConversionError",
    "ConversionReport",
    "DictSource",
    "TensorSource",
    "SLIM_ARCHS",
    "load_slim_weights",
    "open_slim_checkpoint",
    "slim_variable_names",
]
