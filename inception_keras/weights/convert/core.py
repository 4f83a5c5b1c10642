"""Source-independent conversion machinery: a strict, name-based assignment of source
tensors to Keras variables, with a report of what was used and what was left and why.

A converter for a new source (TF-slim, timm, ...) supplies three things:
``names`` (Keras variable path -> source name), ``classify_leftover`` (why a source tensor
may be left unused, or None when it must not be) and optionally ``transform`` (layout
changes such as OIHW -> HWIO) with ``reads`` (further tensors a value is computed from,
such as a BatchNorm gamma folded into the variance). Everything else - missing and
mismatched tensors, the background class of 1001-way heads, the report - lives here.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np

HEAD_LAYERS = ("Logits__Logits", "AuxLogits__Logits", "AuxLogits__Aux_logits")


class ConversionError(ValueError):
    """A checkpoint does not fit the model; the message lists names, shapes and a likely cause."""


class TensorSource:
    """Anything that lists tensor shapes by name and returns a tensor as a numpy array."""

    description = "source"

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def get(self, name: str) -> np.ndarray:
        raise NotImplementedError


class DictSource(TensorSource):
    """A plain ``{name: array}`` dict as a source (what the tests feed)."""

    description = "dict"

    def __init__(self, tensors: Mapping[str, np.ndarray]):
        self._tensors = tensors

    @property
    def shapes(self):
        return {k: tuple(np.shape(v)) for k, v in self._tensors.items()}

    def get(self, name):
        return np.asarray(self._tensors[name])


def as_source(source) -> TensorSource:
    return source if isinstance(source, TensorSource) else DictSource(source)


@dataclasses.dataclass
class ConversionReport:
    """What a conversion did: tensors mapped, entries ignored (and why), background drops."""

    source: str
    mapped: list[tuple[str, str, tuple[int, ...]]]  # (keras variable, source name, shape)
    ignored: dict[str, str]  # source name -> reason
    background_dropped: list[str]  # source names whose first class (background) was dropped
    seconds: float = 0.0
    # (keras variable, source name) of tensors read into a variable besides its own (``reads``)
    read_into: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)  # source-specific lines for the summary
    details: dict = dataclasses.field(default_factory=dict)  # source-specific facts for the JSON

    @property
    def parameters(self) -> int:
        return int(sum(np.prod(s) for _, _, s in self.mapped))

    def ignored_by_reason(self) -> Counter:
        return Counter(self.ignored.values())

    def summary_lines(self) -> list[str]:
        lines = [f"tensors mapped: {len(self.mapped)} ({self.parameters:,} values)"]
        if self.read_into:
            lines.append(f"tensors read into others: {len(self.read_into)}")
        for reason, count in sorted(self.ignored_by_reason().items()):
            lines.append(f"ignored: {count:4d} x {reason}")
        for name in self.background_dropped:
            lines.append(f"background class dropped: {name}")
        return lines + self.notes

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "tensors_mapped": len(self.mapped),
            "values_mapped": self.parameters,
            "tensors_read_into_others": len(self.read_into),
            "ignored": dict(sorted(self.ignored.items())),
            "ignored_by_reason": dict(self.ignored_by_reason()),
            "background_dropped": self.background_dropped,
            **self.details,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def _fmt(shape):
    return str(tuple(int(d) for d in shape))


def assign_strict(
    model,
    source,
    names: Mapping[str, str],
    *,
    classify_leftover: Callable[[str], str | None],
    drop_background: bool = True,
    transform: Callable[..., np.ndarray] | None = None,
    source_shape: Callable[[str, tuple], tuple] | None = None,
    guess: Callable[[list[str]], str | None] | None = None,
    use_name: Callable[[str], str] | None = None,
    reads: Mapping[str, Sequence[str]] | None = None,
) -> ConversionReport:
    """Give every variable of ``model`` exactly one tensor of ``source``, or raise.

    Args:
        names: Keras variable path (``layer/kernel``) -> source tensor name, for every
            variable of the model.
        classify_leftover: why an unused source tensor may be ignored, or None if it
            should have been used (then the conversion fails).
        drop_background: for the classifier heads, a source with one more class than
            the model is sliced ``[..., 1:]`` (TF-slim's background class at index 0).
        transform: ``transform(name, value, *extra)``: source layout -> Keras layout
            (identity for TF-slim); ``extra`` are the ``reads`` tensors of the variable.
        source_shape: the Keras-layout shape of a source shape (for comparisons).
        guess: given the missing source names, a sentence on the likely cause.
        use_name: the source name to read for a mapped name (EMA shadows).
        reads: Keras variable path -> further source tensors its value is computed
            from (a BatchNorm gamma folded into the moving variance), each of the mapped
            tensor's shape. They must exist, count as used and reach ``transform``.
    """
    start = time.perf_counter()
    source = as_source(source)
    shapes = source.shapes
    variables = {v.path: v for v in model.weights}
    unmapped = sorted(set(variables) - set(names))
    if unmapped:
        raise ConversionError(f"no source name for {len(unmapped)} Keras variables, e.g. {unmapped[:5]}")

    plan = _plan(variables, shapes, names, reads or {}, use_name=use_name, source_shape=source_shape,
                 drop_background=drop_background)
    ignored, unexpected = {}, []
    for name in sorted(set(shapes) - plan.claimed):
        reason = classify_leftover(name)
        if reason is None:
            unexpected.append(f"  {name} {_fmt(shapes[name])}")
        else:
            ignored[name] = reason
    problems = _problems(plan, unexpected, source.description, guess)
    if problems:
        raise ConversionError("checkpoint does not match the model:\n" + "\n".join(problems))

    mapped, read_into, dropped = [], [], []
    for var, path, name, read, drop, extras in plan.steps:
        value = source.get(read)
        if transform is not None:
            value = transform(name, value, *(source.get(e) for e in extras))
        read_into.extend((path, e) for e in extras)
        if drop:
            value = value[..., 1:]
            dropped.append(read)
        var.assign(value.astype(var.dtype))
        mapped.append((path, read, tuple(value.shape)))
    return ConversionReport(
        source=source.description, mapped=mapped, ignored=ignored, background_dropped=dropped,
        read_into=read_into, seconds=time.perf_counter() - start,
    )


@dataclasses.dataclass
class _Plan:
    """What :func:`assign_strict` found before assigning anything."""

    steps: list = dataclasses.field(default_factory=list)  # (variable, path, name, read, drop background, reads)
    claimed: set = dataclasses.field(default_factory=set)  # every source name the mapping asks for
    missing: list = dataclasses.field(default_factory=list)  # lines: variable <- absent source name
    missing_names: list = dataclasses.field(default_factory=list)
    wrong: list = dataclasses.field(default_factory=list)  # lines: variable <- tensor of another shape


def _plan(variables, shapes, names, reads, *, use_name, source_shape, drop_background) -> _Plan:
    """Match each variable with its source tensor (and ``reads``) by name and shape."""
    plan = _Plan()
    for path, name in names.items():
        want = tuple(variables[path].shape)
        read = use_name(name) if use_name else name
        extras = tuple(reads.get(path, ()))
        plan.claimed.update((name, read, *extras))  # a wrong shape is not also "unused"
        if read not in shapes:
            plan.missing.append(f"  {path}  <-  {name}  (expected shape {_fmt(want)})")
            plan.missing_names.append(name)
            continue
        have = tuple(shapes[read])
        if not _reads_fit(plan, path, name, read, have, extras, shapes):
            continue
        have_keras = source_shape(name, have) if source_shape else have
        drop = False
        if have_keras != want:
            is_head = path.split("/")[0] in HEAD_LAYERS
            if is_head and have_keras[:-1] == want[:-1] and have_keras[-1] == want[-1] + 1 and drop_background:
                drop = True
            else:
                plan.wrong.append(f"  {path} {_fmt(want)}  <-  {read} {_fmt(have_keras)}"
                                  f"{_head_hint(want, have_keras) if is_head else ''}")
                continue
        plan.steps.append((variables[path], path, name, read, drop, extras))
    return plan


def _reads_fit(plan: _Plan, path, name, read, have, extras, shapes) -> bool:
    """Whether the further tensors a variable is computed from exist with its tensor's shape
    (the problems go into ``plan``)."""
    fit = True
    for extra in extras:
        if extra not in shapes:
            plan.missing.append(f"  {path}  <-  {extra}  (read with {name}, expected shape {_fmt(have)})")
            plan.missing_names.append(extra)
            fit = False
        elif tuple(shapes[extra]) != have:
            plan.wrong.append(f"  {path} <- {read} {_fmt(have)}  with  {extra} {_fmt(shapes[extra])}  "
                              f"[read together, they must have the same shape]")
            fit = False
    return fit


def _head_hint(want, have) -> str:
    """The likely cause of a classifier head's wrong shape: one class more or less (the background)."""
    if have[-1] == want[-1] + 1:
        return (f"  [classes={want[-1]} but the checkpoint has {have[-1]}: keep the "
                f"background class (classes={have[-1]}, --keep-background) or drop it]")
    if have[-1] + 1 == want[-1]:
        return (f"  [classes={want[-1]} but the checkpoint has {have[-1]} (no background "
                f"class): build the model with classes={have[-1]}]")
    return ""


def _problems(plan: _Plan, unexpected: list[str], description: str, guess) -> list[str]:
    """The paragraphs of the error: missing tensors (and the likely cause), wrong shapes, tensors left over."""
    problems = []
    if plan.missing:
        problems.append(f"{len(plan.missing)} Keras variables have no tensor in the {description}:\n"
                        + "\n".join(plan.missing[:20]) + ("\n  ..." if len(plan.missing) > 20 else ""))
        cause = guess(sorted(plan.missing_names)) if guess else None
        if cause:
            problems.append(f"likely cause: {cause}")
    if plan.wrong:
        problems.append(f"{len(plan.wrong)} tensors have the wrong shape (Keras variable shape <- source tensor "
                        "shape):\n" + "\n".join(plan.wrong[:20]) + ("\n  ..." if len(plan.wrong) > 20 else ""))
    if unexpected:
        problems.append(f"{len(unexpected)} tensors of the {description} are not used by the model:\n"
                        + "\n".join(unexpected[:20]) + ("\n  ..." if len(unexpected) > 20 else ""))
    return problems
