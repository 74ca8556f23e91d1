"""Plain text: tables for the command line (``kantorovich verify``, ``kantorovich bench``),
and the article before a word a message fills in."""

from __future__ import annotations

import re


def with_article(word) -> str:
    """``word`` after "a" or "an", as it is read: "a numpy", "an array_api", "an 8-D",
    "an 11-level", "a 16-level". Words by their first letter (a vowel: "an"), numbers by how
    they are read in English ("an" for eight..., eleven and eighteen, and their thousands)."""
    text = str(word)
    digits = re.match(r"\d+", text)
    if digits:
        number = digits.group()
        lead = number[: len(number) % 3 or 3]  # the group read first: 11 of 11000, 800 of 800
        an = lead.startswith("8") or lead in ("11", "18")
    else:
        an = text[:1].lower() in tuple("aeiou")
    return f"{'an' if an else 'a'} {text}"


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
