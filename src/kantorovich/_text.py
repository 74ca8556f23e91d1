"""Plain-text tables for the command line (``kantorovich verify``, ``kantorovich bench``)."""

from __future__ import annotations


def text_table(header, rows, *, rule: bool = True, right=()) -> str:
    """Columns aligned to their widest cell, two spaces apart: left-aligned, except the
    columns whose indices are in ``right`` (numbers, so that their digits line up); ``rule``
    puts a line of dashes under the header. ``rows`` are sequences of strings as long as
    ``header``. No line ends in spaces."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(header)]
    if rule:
        out.append("  ".join("-" * w for w in widths))
    out += [line(r) for r in rows]
    return "\n".join(out)
