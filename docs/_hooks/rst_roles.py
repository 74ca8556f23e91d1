"""griffe extension: the reST bits of the docstrings, rendered as Markdown.

The docstrings are numpy style with a few reST constructs that Markdown does not know:
``:func:`name```-style roles (shown as code), ``:math:`...``` (inline code) and ``.. math::``
blocks (a code block). The source stays as it is, readable in ``help()``.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj|math):`~?([^`]+)`")
_MATH = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)\n"
                   r"(?P<body>(?:(?P=indent)[ \t]+.*\n|[ \t]*\n)*)", re.M)


def _math_block(m: re.Match) -> str:
    indent = m["indent"]
    lines = [ln.strip() for ln in ([m["first"]] + m["body"].splitlines()) if ln.strip()]
    return (f"{indent}```text\n" + "".join(f"{indent}{ln}\n" for ln in lines)
            + f"{indent}```\n\n")


def markdown(text: str) -> str:
    """``text`` with its reST roles as inline code and its math blocks as code blocks."""
    text = _MATH.sub(_math_block, text if text.endswith("\n") else text + "\n")
    return _ROLE.sub(r"`\1`", text).rstrip("\n")


class RstRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
