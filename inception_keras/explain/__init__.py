"""Why this class? Grad-CAM and Grad-CAM++ heat maps, drawn over the image the model saw.

    from inception_keras import create_model, explain
    from inception_keras.data.datasets import Preprocessing, load_for_eval

    model = create_model("inception_v4.tf_in1k")
    x = load_for_eval("cat.jpg", Preprocessing("slim", 299))
    [e] = explain.gradcam(model, x[None])                  # the top class, at the last feature map
    e.class_index, e.score, e.peak                         # peak: (x, y) in the 299x299 crop
    explain.render(x, e, "tabby cat").save("cat.png")      # the heat map over the crop, with a caption

``tools/explain.py`` does this for image files (see :mod:`inception_keras.cli.explain`).
The names are imported on first use, so importing this package does not load Keras.
"""

from ..utils.lazy import lazy_exports

_EXPORTS = {
    "METHODS": ".cam",
    "Explanation": ".cam",
    "check_backend": ".cam",
    "default_layer": ".cam",
    "gradcam": ".cam",
    "spatial_layer": ".cam",
    "resolve_class": ".classes",
    "imagenet_synsets": ".classes",
    "contact_sheet": ".drawing",
    "heat_colors": ".drawing",
    "overlay": ".drawing",
    "render": ".drawing",
    "to_uint8": ".drawing",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
