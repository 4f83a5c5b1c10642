"""Name a class the way a person does: by output index, WordNet synset or name."""

from __future__ import annotations

import difflib
import re

from ..data.labels import imagenet_classes

_SYNSET = re.compile(r"^n\d{8}$")


def imagenet_synsets(classes: int) -> list[str | None] | None:
    """The synset of each output of a 1000-way (or 1001-way, background first) ImageNet head."""
    if classes not in (1000, 1001):
        return None

    synsets = [synset for synset, _ in imagenet_classes()]
    return synsets if classes == 1000 else [None, *synsets]


def resolve_class(value, class_names: list[str], synsets: list[str | None] | None = None) -> int:
    """The output index of ``value``: an index (``281`` or ``"281"``), a synset
    (``"n02123045"``, with ``synsets`` in output order) or a name (``"tabby"``: the whole
    name, or one of its comma-separated parts, case-insensitively).

    Raises ValueError saying what matched (nothing, or several classes) and what to give instead.
    """
    n = len(class_names)
    if isinstance(value, bool):
        raise ValueError(f"class must be an index, a synset or a name, got {value!r}")
    text = str(value).strip()
    if isinstance(value, int) or text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < n:
            raise ValueError(f"class index {index} is out of range: the model has {n} classes (0..{n - 1})")
        return index
    if _SYNSET.match(text):
        if synsets is None:
            raise ValueError(f"class {text!r} looks like a WordNet synset, but this model's classes have no synsets; "
                             f"give an index (0..{n - 1}) or a name")
        if text not in synsets:
            raise ValueError(f"synset {text!r} is not one of the model's {n} classes")
        return synsets.index(text)
    wanted = text.casefold()
    exact = [i for i, name in enumerate(class_names) if name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    parts = exact or [i for i, name in enumerate(class_names)
                      if wanted in (p.strip().casefold() for p in name.split(","))]
    if len(parts) == 1:
        return parts[0]
    if parts:
        listed = "; ".join(_describe(i, class_names, synsets) for i in parts)
        raise ValueError(f"class name {text!r} matches {len(parts)} classes ({listed}); give the index or synset")
    close = difflib.get_close_matches(text, class_names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"no class is named {text!r}{hint} (give an index 0..{n - 1}, a synset or a class name)")


def _describe(index: int, class_names, synsets) -> str:
    synset = f" {synsets[index]}" if synsets and synsets[index] else ""
    return f"{index}{synset} {class_names[index]!r}"
