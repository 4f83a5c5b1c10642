"""Plain-text and Markdown tables for the tools' printed reports."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(header: Sequence[str], rows: Sequence[Sequence], right: Sequence[int] = ()) -> str:
    """A fixed-width text table; columns whose index is in ``right`` are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]

    def line(values):
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in cells)])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], right: Sequence[int] = ()) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""

    def esc(value):
        return str(value).replace("|", "\\|")

    rule = ["---:" if i in right else "---" for i in range(len(header))]
    out = ["| " + " | ".join(esc(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def key_value_table(rows: Sequence[tuple[str, object]]) -> str:
    """Two columns, no header: the name of each row, padded, then its value."""
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k:<{width}}  {v}".rstrip() for k, v in rows)
