"""The evaluated model against a reference on the same images: what a deployed (exported,
quantized) model changed compared with its source.

Per image, both models' probabilities (crops averaged alike) give: top-1 agreement (the same
top-1 class), top-5 overlap (|top5_a ∩ top5_b| / 5, averaged), the largest absolute probability
difference, and the mean one (over every image and class); per class, the change of top-1
accuracy, with the most-changed classes first. Nothing grows with the number of classes per
image: each image keeps a few numbers.
"""

from __future__ import annotations

import numpy as np

from .scores import CropMeans

MOST_CHANGED = 10  # classes listed by the report


class Agreement:
    """Streams the evaluated model's completed images and runs ``reference`` (a
    :class:`~inception_keras.evaluation.core.Scorer`) on the same inputs."""

    def __init__(self, reference, evaluated, passes: int):
        if reference.classes != evaluated.classes:
            raise ValueError(f"--reference {reference.name} has {reference.classes} classes but the model "
                             f"{evaluated.name} has {evaluated.classes}: compare a model with its own source (the "
                             "preset or exported file it was made from)")
        self.reference = reference
        self.means = CropMeans(passes, reference.probabilities)
        self.k = min(5, reference.classes)
        self.parts = {name: [] for name in ("labels", "top1", "ref_top1", "ref_top5_hit", "top5_hit", "overlap",
                                            "max_diff")}
        self.diff_sum = 0.0
        self.values = 0

    def add_batch(self, images, labels, indices, ranking, probs, done_labels) -> None:
        """The reference's scores of a batch of crops; ``ranking``/``probs``/``done_labels``: the
        evaluated model's images completed by this batch (the reference completes the same)."""
        r_rank, r_probs, r_labels, _ = self.means.add(self.reference.call(images), labels, indices)
        assert len(r_labels) == len(done_labels)
        self.add(ranking, probs, r_rank, r_probs, done_labels)

    def add_one(self, crops, ranking, probs, labels) -> None:
        """One image read outside the batches (all its crops)."""
        r_rank, r_probs = self.means.one(self.reference.call(crops))
        self.add(ranking, probs, r_rank, r_probs, labels)

    def add(self, ranking, probs, r_rank, r_probs, labels) -> None:
        if len(labels) == 0:
            return
        a = np.argsort(-np.asarray(ranking), axis=1, kind="stable")[:, : self.k]
        b = np.argsort(-np.asarray(r_rank), axis=1, kind="stable")[:, : self.k]
        diff = np.abs(np.asarray(probs, np.float64) - np.asarray(r_probs, np.float64))
        labels = np.asarray(labels)
        p = self.parts
        p["labels"].append(labels)
        p["top1"].append(a[:, 0])
        p["ref_top1"].append(b[:, 0])
        p["top5_hit"].append((a == labels[:, None]).any(1))
        p["ref_top5_hit"].append((b == labels[:, None]).any(1))
        p["overlap"].append((a[:, :, None] == b[:, None, :]).any(2).sum(1))
        p["max_diff"].append(diff.max(axis=1))
        self.diff_sum += float(diff.sum())
        self.values += diff.size

    def summary(self, shift: int, class_id, class_name) -> dict:
        """The report's ``reference`` section (labels shifted back by ``shift``)."""
        p = {name: np.concatenate(parts) for name, parts in self.parts.items()}
        labels = p["labels"]
        hit, ref_hit = p["top1"] == labels, p["ref_top1"] == labels
        n = len(labels)
        per_class = []
        for c in np.unique(labels):
            mask = labels == c
            top1, ref_top1 = float(hit[mask].mean()), float(ref_hit[mask].mean())
            per_class.append({"class": class_id(int(c) - shift), "name": class_name(int(c) - shift),
                              "images": int(mask.sum()), "top1": top1, "reference_top1": ref_top1,
                              "change": top1 - ref_top1})
        changed = sorted((r for r in per_class if r["change"] != 0), key=lambda r: (-abs(r["change"]), r["class"]))
        agree = int(np.sum(p["top1"] == p["ref_top1"]))
        return {
            "model": self.reference.name,
            "precision": self.reference.precision,
            "images": n,
            "top1_agree": agree,
            "top1_agreement": agree / n,
            "top5_overlap": float(p["overlap"].mean() / self.k),
            "k": self.k,
            "max_abs_prob_diff": float(p["max_diff"].max()),
            "mean_abs_prob_diff": self.diff_sum / self.values,
            "mean_max_abs_prob_diff": float(p["max_diff"].mean()),
            "top1": {"correct": int(ref_hit.sum()), "total": n, "accuracy": float(ref_hit.mean())},
            "top5": {"correct": int(p["ref_top5_hit"].sum()), "total": n, "accuracy": float(p["ref_top5_hit"].mean())},
            "top1_change": float(hit.mean() - ref_hit.mean()),
            "top5_change": float(p["top5_hit"].mean() - p["ref_top5_hit"].mean()),
            "classes_changed": len(changed),
            "most_changed_classes": changed[:MOST_CHANGED],
            "per_class": per_class,
        }


def reference_rows(section: dict, outputs: int | None = None) -> list[tuple[str, str]]:
    """The key-value rows of the report's comparison with its reference (top-k and its overlap
    only where k is below the number of ``outputs``)."""
    k, n = section["k"], section["images"]
    rows = [
        ("reference", f"{section['model']} ({section['precision']})"),
        ("reference top-1", f"{section['top1']['accuracy']:.4f} (change {100 * section['top1_change']:+.2f} points)"),
        (f"reference top-{k}",
         f"{section['top5']['accuracy']:.4f} (change {100 * section['top5_change']:+.2f} points)"),
        ("top-1 agreement", f"{section['top1_agree']} / {n} = {section['top1_agreement']:.4f}"),
        (f"top-{k} overlap", f"{section['top5_overlap']:.4f} (mean |top{k} ∩ reference top{k}| / {k})"),
        ("probability difference", f"{section['max_abs_prob_diff']:.3g} largest, {section['mean_abs_prob_diff']:.3g} "
                                   f"mean (every image and class), {section['mean_max_abs_prob_diff']:.3g} mean of "
                                   "each image's largest"),
        ("classes changed", f"{section['classes_changed']} of {len(section['per_class'])} changed top-1 accuracy"),
    ]
    if outputs is not None and k >= outputs:
        rows = [row for row in rows if f"top-{k}" not in row[0]]
    return rows


CHANGED_HEADER = ("class", "name", "images", "top-1", "reference", "change")


def changed_rows(section: dict) -> list[tuple]:
    return [(r["class"], r["name"], r["images"], f"{r['top1']:.4f}", f"{r['reference_top1']:.4f}",
             f"{100 * r['change']:+.1f}") for r in section["most_changed_classes"]]
