"""Inception-v4, Inception-ResNet-v1 and Inception-ResNet-v2 for Keras 3 (arXiv 1602.07261).

The public names are imported on first use, so that ``import inception_keras`` (and every
tool's ``--help``) does not load Keras and its backend until a model is needed.
"""

from .utils.lazy import lazy_exports
from .version import __version__

_EXPORTS = {
    "create_inception_v4": ".weights.applications",
    "create_inception_resnet_v1": ".weights.applications",
    "create_inception_resnet_v2": ".weights.applications",
    "create_model": ".weights.factory",
    "list_models": ".weights.factory",
    "feature_info": ".weights.factory",
    "load_preset": ".weights.factory",
    "FeatureInfo": ".models.features",
    "gradcam": ".explain",
    "list_pretrained": ".weights.presets",
    "default_preset": ".weights.presets",
    "save_preset": ".weights.format",
    "preset_info": ".weights.loading",
    "upload_preset": ".weights.hub",
    "preprocess_input": ".data.preprocessing",
    "decode_predictions": ".data.labels",
    "UnknownModelError": ".errors",
    "NoPretrainedWeightsError": ".errors",
    "PresetError": ".errors",
    "ImageClassifier": ".tasks.classifier",
    "ImagePreprocessor": ".tasks.preprocessor",
    "ExportedClassifier": ".tasks.exported",
}

__all__ = [
    "create_inception_v4",
    "create_inception_resnet_v1",
    "create_inception_resnet_v2",
    "create_model",
    "list_models",
    "feature_info",
    "FeatureInfo",
    "gradcam",
    "list_pretrained",
    "save_preset",
    "load_preset",
    "preset_info",
    "upload_preset",
    "preprocess_input",
    "decode_predictions",
    "default_preset",
    "UnknownModelError",
    "NoPretrainedWeightsError",
    "PresetError",
    "ImageClassifier",
    "ImagePreprocessor",
    "ExportedClassifier",
    "__version__",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
