"""Copy weights between two builds of the same graph by layer name (heads may differ)."""

from __future__ import annotations

from .core import HEAD_LAYERS, ConversionError


def copy_by_name(source, target, *, label_offset: int = 1) -> int:
    """Give every weighted layer of ``target`` the weights of the same-named layer of ``source``.

    ``source`` may have more layers (a full graph with the auxiliary head); a classifier
    of ``target`` with ``label_offset`` fewer classes takes the source's minus the first
    ``label_offset`` (TF-slim's background class). Returns the number of layers copied.
    """
    copied = 0
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            raise ConversionError(f"{source.name!r} has no layer {layer.name!r} to copy into {target.name!r}") from None
        values = []
        for want, have in zip(layer.weights, src.get_weights()):
            if tuple(want.shape) != have.shape:
                if layer.name in HEAD_LAYERS and have.shape[-1] - label_offset == want.shape[-1]:
                    have = have[..., label_offset:]
                else:
                    raise ConversionError(
                        f"{layer.name}/{want.name}: shape {tuple(want.shape)} in {target.name!r} but "
                        f"{have.shape} in {source.name!r}"
                    )
            values.append(have)
        layer.set_weights(values)
        copied += 1
    return copied
