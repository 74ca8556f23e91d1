"""Plain-text tables for the command line (``kantorovich verify``, ``kantorovich bench``)."""

from __future__ import annotations


def text_table(header, rows, *, rule: bool = True) -> str:
    """Columns left-aligned to their widest cell, two spaces apart; ``rule`` puts a line of
    dashes under the header. ``rows`` are sequences of strings as long as ``header``."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    if rule:
        out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)
