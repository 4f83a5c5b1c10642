"""Inception-v4, Inception-ResNet-v1 and Inception-ResNet-v2 for Keras 3 (arXiv 1602.07261).

The public names are imported on first use, so that ``import inception_keras`` (and every
tool's ``--help``) does not load Keras and its backend until a model is needed.
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "create_inception_v4": ".models",
    "create_inception_resnet_v1": ".models",
    "create_inception_resnet_v2": ".models",
    "create_model": ".registry",
    "list_models": ".registry",
    "feature_info": ".features",
    "FeatureInfo": ".features",
    "gradcam": ".explain",
    "list_pretrained": ".presets",
    "save_preset": ".preset_format",
    "load_preset": ".loading",
    "preset_info": ".loading",
    "upload_preset": ".hub",
    "preprocess_input": ".preprocessing",
    "decode_predictions": ".preprocessing",
    "UnknownModelError": ".errors",
    "NoPretrainedWeightsError": ".errors",
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
    "UnknownModelError",
    "NoPretrainedWeightsError",
    "ImageClassifier",
    "ImagePreprocessor",
    "ExportedClassifier",
    "__version__",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
