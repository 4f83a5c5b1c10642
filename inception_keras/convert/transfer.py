"""Copy weights between two builds of the same graph by layer name (heads may differ)."""

from __future__ import annotations

import numpy as np

from .core import HEAD_LAYERS, ConversionError


def copy_by_name(source, target, *, label_offset: int = 1) -> int:
    """Give every weighted layer of ``target`` the weights of the same-named layer of ``source``.

    ``source`` may have more layers (a full graph with the auxiliary head); a classifier
    of ``target`` with ``label_offset`` fewer classes takes the source's minus the first
    ``label_offset`` (TF-slim's background class). Variables are matched by name, so a
    target built with ``batchnorm_scale=True`` from a source without it gets gamma = 1
    (exact); the other way round works only where every gamma is 1. Returns the number
    of layers copied.
    """
    copied = 0
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            raise ConversionError(f"{source.name!r} has no layer {layer.name!r} to copy into {target.name!r}") from None
        have = {w.name: value for w, value in zip(src.weights, src.get_weights())}
        wanted = {w.name for w in layer.weights}
        gamma = have.pop("gamma", None)
        if gamma is not None and "gamma" not in wanted and not np.all(gamma == 1):
            raise ConversionError(
                f"{layer.name} has a BatchNorm scale (gamma) in {source.name!r} but not in {target.name!r}; "
                f"build {target.name!r} with batchnorm_scale=True"
            )
        values = []
        for want in layer.weights:
            if want.name == "gamma":
                value = gamma if gamma is not None else np.ones(want.shape, "float32")
            elif want.name in have:
                value = have[want.name]
            else:
                raise ConversionError(f"{layer.name} has no variable {want.name!r} in {source.name!r}")
            if tuple(want.shape) != value.shape:
                if layer.name in HEAD_LAYERS and value.shape[-1] - label_offset == want.shape[-1]:
                    value = value[..., label_offset:]
                else:
                    raise ConversionError(
                        f"{layer.name}/{want.name}: shape {tuple(want.shape)} in {target.name!r} but "
                        f"{value.shape} in {source.name!r}"
                    )
            values.append(value)
        layer.set_weights(values)
        copied += 1
    return copied
