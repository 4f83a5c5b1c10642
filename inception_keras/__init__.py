"""Inception-v4, Inception-ResNet-v1 and Inception-ResNet-v2 for Keras 3 (arXiv 1602.07261)."""

from .hub import upload_preset
from .loading import load_preset, preset_info
from .models import create_inception_resnet_v1, create_inception_resnet_v2, create_inception_v4
from .preprocessing import decode_predictions, preprocess_input
from .preset_format import save_preset
from .presets import list_pretrained
from .registry import create_model, list_models

__version__ = "0.1.0"

__all__ = [
    "create_inception_v4",
    "create_inception_resnet_v1",
    "create_inception_resnet_v2",
    "create_model",
    "list_models",
    "list_pretrained",
    "save_preset",
    "load_preset",
    "preset_info",
    "upload_preset",
    "preprocess_input",
    "decode_predictions",
    "__version__",
]
