"""The weights layer: the preset format, named presets, hub sources, loading, and the converters
of TF-slim checkpoints and timm weights; :mod:`~inception_keras.weights.applications` and
:mod:`~inception_keras.weights.factory` build the graphs of :mod:`inception_keras.models` with
the weights a reference names."""
