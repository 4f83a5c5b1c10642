"""The evaluation report as text and Markdown."""

from __future__ import annotations

from ..utils.tables import format_table, key_value_table, markdown_table
from .agreement import CHANGED_HEADER, changed_rows, reference_rows


def shows_topk(report: dict) -> bool:
    """Top-k is shown only where it can miss: k below the model's number of outputs."""
    top = report["top5"]
    return top["k"] < top.get("outputs", top["k"] + 1)


def _bottom_sections(report: dict):
    yield "bottom_top1", "top-1"
    if shows_topk(report):
        yield "bottom_top5", f"top-{report['top5']['k']}"


def _fraction(part):
    return f"{part['correct']} / {part['total']} = {part['accuracy']:.4f}"


def summary_rows(report: dict) -> list[tuple[str, str]]:
    speed, data = report["speed"], report["data"]
    rows = [
        ("model", report["model"] + (f" ({report['weights']})" if report.get("weights") else "")),
        ("data", f"{data['path']} [{data['layout']}, {data['labels']}]"),
        ("images", f"{data['evaluated']} evaluated of {data['images_requested']} "
                   f"({len(data['unreadable'])} unreadable"
                   + (f", {data['images_found']} in the set)" if data["images_found"] is not None else ")")
                   + (f"; {data['not_in_label_file']} images in the folder are not in the label file, not evaluated"
                      if data.get("not_in_label_file") else "")
                   + _excluded_text(data.get("excluded"))),
        *([("crops", _crops_text(report["crops"]))] if report.get("crops") else []),
        ("top-1", _fraction(report["top1"])),
        *([(f"top-{report['top5']['k']}", _fraction(report["top5"]))] if shows_topk(report) else []),
        ("parameters", f"{report['params']:,}" if report.get("params") is not None else "n/a (an exported model)"),
        ("multiply-adds", f"{report['macs'] / 1e9:.2f} G" if report["macs"] else
         "n/a (an exported model)" if report.get("params") is None else "n/a (dynamic input size)"),
        ("images/s", f"{speed['images_per_second']} end-to-end, "
                     + (f"{speed['pipeline_images_per_second']} input pipeline only"
                        if speed.get("pipeline_images_per_second") is not None
                        else "input pipeline not measured")),
        ("batch latency", f"{speed['batch_latency_ms_mean']:.1f} ms mean, {speed['batch_latency_ms_p90']:.1f} ms p90 "
                          f"(batch {speed['batch_size']}, {speed['batches']} batches)"),
        ("device", report["device"]),
        *([("runtime", report["runtime"]["runtime"])] if isinstance(report.get("runtime"), dict) else []),
        ("precision", report["precision"] + (", XLA" if report.get("jit_compile") else "")),
        ("preprocessing", report["preprocessing"]["description"]),
    ]
    if report.get("strategy"):
        replicas = report.get("replicas", 1)
        rows.append(("strategy", f"{report['strategy']} ({replicas} replica{'s' if replicas != 1 else ''})"))
    rows.append(("command", report.get("command") or ""))
    return rows


def _excluded_text(exclusion: dict | None) -> str:
    if not exclusion:
        return ""
    scope = exclusion.get("scope", "the whole set")
    return (f"; {exclusion.get('excluded')} excluded by {exclusion['file']} ({exclusion['listed']} listed, "
            f"counted over {scope})")


def _crops_text(crops: dict) -> str:
    passes = crops["forward_passes"]
    return (f"{crops['protocol']}: {passes} forward pass{'es' if passes != 1 else ''} per image "
            f"({crops['description']}); {crops['averaging']}")


def _class_label(key: str, name: str) -> str:
    """``n01440764 tench`` for ImageNet; a class whose name is its key (a folder) once."""
    return key if key == name else f"{key} {name}"


def _confused_rows(report: dict):
    return [(_class_label(r["true"], r["true_name"]), _class_label(r["predicted"], r["predicted_name"]), r["count"])
            for r in report.get("confused_pairs", [])]


CONFUSED_HEADER = ("true", "predicted", "count")


def _bottom_rows(rows):
    return [(r["class"], r["name"], r["images"], f"{r['accuracy']:.4f}") for r in rows]


def format_text(report: dict) -> str:
    """The report as printed by the tool."""
    out = [key_value_table(summary_rows(report))]
    for key, title in _bottom_sections(report):
        out += ["", f"bottom {len(report[key])} classes by {title} accuracy",
                format_table(("class", "name", "images", "accuracy"), _bottom_rows(report[key]), right=(2, 3))]
    if report.get("confused_pairs"):
        out += ["", f"most confused pairs ({len(report['confused_pairs'])}, true -> predicted top-1)",
                format_table(CONFUSED_HEADER, _confused_rows(report), right=(2,))]
    if report.get("reference"):
        out += ["", "against the reference (the same images, the same preprocessing)",
                key_value_table(reference_rows(report["reference"], report["top5"].get("outputs")))]
        if report["reference"]["most_changed_classes"]:
            out += ["", "most-changed classes (top-1 accuracy, change in points)",
                    format_table(CHANGED_HEADER, changed_rows(report["reference"]), right=(2, 3, 4, 5))]
    if report["data"]["unreadable"]:
        out += ["", f"unreadable files ({len(report['data']['unreadable'])}, not counted)"]
        out += [f"  {u['path']}: {u['error']}" for u in report["data"]["unreadable"]]
    out += _not_labelled(report["data"], "  ")
    return "\n".join(out)


def _not_labelled(data: dict, indent: str) -> list[str]:
    count = data.get("not_in_label_file")
    if not count:
        return []
    names = data.get("not_in_label_file_examples", [])
    return ["", f"images in the folder but not in the label file ({count}, not evaluated)"] + \
        [f"{indent}{name}" for name in names] + ([f"{indent}..."] if count > len(names) else [])


def format_markdown(report: dict) -> str:
    out = [f"# Evaluation of {report['model']}", "", markdown_table(("", ""), summary_rows(report))]
    for key, title in _bottom_sections(report):
        out += ["", f"## Bottom {len(report[key])} classes by {title} accuracy", "",
                markdown_table(("class", "name", "images", "accuracy"), _bottom_rows(report[key]), right=(2, 3))]
    if "confused_pairs" in report:
        out += ["", "## Most confused pairs (true -> predicted top-1)", ""]
        out += [markdown_table(CONFUSED_HEADER, _confused_rows(report), right=(2,))] if report["confused_pairs"] \
            else ["None."]
    if report.get("reference"):
        rows = reference_rows(report["reference"], report["top5"].get("outputs"))
        out += ["", "## Against the reference", "", markdown_table(("", ""), rows),
                "", "### Most-changed classes (top-1 accuracy, change in points)", ""]
        out += [markdown_table(CHANGED_HEADER, changed_rows(report["reference"]), right=(2, 3, 4, 5))] \
            if report["reference"]["most_changed_classes"] else ["None: every class has the same top-1 accuracy."]
    unreadable = report["data"]["unreadable"]
    out += ["", f"## Unreadable files ({len(unreadable)})", ""]
    out += [f"- `{u['path']}`: {u['error']}" for u in unreadable] or ["None."]
    out += _not_labelled(report["data"], "- ")
    topk = shows_topk(report)
    out += ["", "## Per-class accuracy", "",
            markdown_table(("class", "name", "images", "top-1", *((f"top-{report['top5']['k']}",) if topk else ())),
                           [(r["class"], r["name"], r["images"], f"{r['top1']:.4f}",
                             *((f"{r['top5']:.4f}",) if topk else ())) for r in report["per_class"]],
                           right=(2, 3, 4) if topk else (2, 3))]
    out += ["", f"Multiply-adds: {report['macs_counted']}.", "", f"Speed: {report['speed']['note']}.", ""]
    return "\n".join(out)

