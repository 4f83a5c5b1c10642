"""Checkpoint converters: TF-slim (``slim``) and PyTorch / timm (``timm``), sharing the strict
machinery of ``core``."""

from .core import ConversionError, ConversionReport, DictSource, TensorSource
from .slim import SLIM_ARCHS, load_slim_weights, open_slim_checkpoint, slim_variable_names
from .timm import TIMM_ARCHS, load_timm_weights, open_timm_checkpoint, plan_batchnorm, timm_variable_names

__all__ = [
    "ConversionError",
    "ConversionReport",
    "DictSource",
    "TensorSource",
    "SLIM_ARCHS",
    "load_slim_weights",
    "open_slim_checkpoint",
    "slim_variable_names",
    "TIMM_ARCHS",
    "load_timm_weights",
    "open_timm_checkpoint",
    "plan_batchnorm",
    "timm_variable_names",
]
