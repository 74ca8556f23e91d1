"""mkdocs hook: one generated API page per public name, so a new public name gets a page.

The public names are read from ``__all__``: of ``kantorovich.ot``, ``kantorovich.divergences``,
``kantorovich.families``, ``kantorovich.testing``, ``kantorovich.strategies`` and
``kantorovich.bench``, and of every submodule of ``kantorovich.plots`` and
``kantorovich.toy_experiments`` (whose packages re-export nothing). A module without
``__all__`` contributes the functions and classes it defines whose names do not start with
``_``. Functions and classes get a page each; constants are listed, with their values, on their
module's index page.

``kantorovich.ot`` and ``kantorovich.divergences`` load their names lazily and wrap each
function in the array layer (``kantorovich._interop.interop``, which keeps ``__wrapped__``,
name, docstring and signature); each page points mkdocstrings at the module that *defines* the
object, so griffe reads the real signature and docstring from the source.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path

from mkdocs.structure.files import File

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rst_roles import markdown  # noqa: E402 - the sibling griffe extension

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "kantorovich.ot",
    "kantorovich.divergences",
    "kantorovich.families",
    "kantorovich.plots",
    "kantorovich.toy_experiments",
    "kantorovich.testing",
    "kantorovich.strategies",
    "kantorovich.bench",
)
API_DIR = "api"


@dataclass(frozen=True)
class Entry:
    public: str      # the module users import from, e.g. "kantorovich.ot"
    name: str        # the public name, e.g. "emd"
    defined_in: str  # the module whose source defines it, e.g. "kantorovich.ot._emd"
    kind: str        # "function", "class" or "data"
    summary: str     # the docstring's first paragraph
    signature: str = ""  # the public call's signature, where the source's is not (see entries)

    @property
    def page(self) -> str:
        return f"{API_DIR}/{self.public}/{self.name}.md"


def _modules() -> list:
    """The modules whose ``__all__`` (or public definitions) make up the API, in order."""
    src = str(ROOT / "src")
    if src not in sys.path:  # build from a checkout without installing it
        sys.path.insert(0, src)
    out = []
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        if hasattr(mod, "__path__") and not getattr(mod, "__all__", None):
            out += [importlib.import_module(f"{pkg}.{m.name}")
                    for m in pkgutil.iter_modules(mod.__path__) if not m.name.startswith("_")]
        else:
            out.append(mod)
    return out


def _names(mod) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, v in vars(mod).items() if not n.startswith("_")
                 and (inspect.isfunction(v) or inspect.isclass(v))
                 and getattr(v, "__module__", None) == mod.__name__]
    return sorted(names, key=str.lower)


def _summary(doc: str) -> str:
    """The docstring's first paragraph on one line, its reST roles as Markdown code."""
    return " ".join(markdown(doc.strip().split("\n\n")[0]).split())


def entries() -> list[Entry]:
    """Every public name of the API with the module that defines it."""
    out = []
    for mod in _modules():
        for name in _names(mod):
            wrapper = getattr(mod, name)
            obj = inspect.unwrap(wrapper)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                kind = "class" if inspect.isclass(obj) else "function"
                summary = _summary(inspect.getdoc(obj) or "")
                if obj.__module__ in sys.modules:
                    out.append(Entry(mod.__name__, name, obj.__module__, kind, summary))
                else:
                    # hypothesis's @composite (kantorovich.strategies): the wrapped function
                    # lives in a temporary module, and its source signature starts with the
                    # `draw` that hypothesis supplies; document the public call instead
                    sig = f"{name}{inspect.signature(wrapper)}"
                    out.append(Entry(mod.__name__, name, wrapper.__module__, kind, summary, sig))
            else:
                out.append(Entry(mod.__name__, name, mod.__name__, "data", ""))
    return out


def _page(e: Entry) -> str:
    # the root heading is the object's public path (not the defining module's private one),
    # followed by the signature griffe reads from the source
    return (f"::: {e.defined_in}.{e.name}\n"
            "    options:\n"
            "      show_root_heading: true\n"
            "      heading_level: 1\n"
            f'      heading: "{e.public}.{e.name}"\n'
            f'      toc_label: "{e.name}"\n'
            + (f"      show_signature: false\n\nCalled as `{e.signature}`: a hypothesis strategy "
               "(the `draw` argument of the source is supplied by hypothesis).\n"
               if e.signature else ""))


def _cell(text: str) -> str:
    """``text`` inside a Markdown table cell: pipes outside code spans escaped (a code span
    keeps its pipes, and the table does not split there)."""
    parts = text.split("`")
    return "`".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))


def _index(public: str, items: list[Entry]) -> str:
    lines = [f"# `{public}`\n", f"::: {public}\n    options:\n      show_root_heading: false\n"
             "      members: false\n"]
    funcs = [e for e in items if e.kind != "data"]
    if funcs:
        lines.append("| name | kind | summary |\n|---|---|---|")
        lines += [f"| [`{e.name}`]({e.name}.md) | {e.kind} | {_cell(e.summary)} |" for e in funcs]
    data = [e for e in items if e.kind == "data"]
    if data:
        lines.append("\n## Constants\n")
        lines += [f"::: {e.public}.{e.name}\n    options:\n      show_root_heading: true\n"
                  for e in data]
    return "\n".join(lines) + "\n"


def _by_module() -> dict[str, list[Entry]]:
    groups: dict[str, list[Entry]] = {}
    for e in entries():
        groups.setdefault(e.public, []).append(e)
    return groups


_GROUPS: dict[str, list[Entry]] = {}


def on_config(config, **kwargs):
    _GROUPS.clear()
    _GROUPS.update(_by_module())
    nav = [{public: [f"{API_DIR}/{public}/index.md"]
            + [{e.name: e.page} for e in items if e.kind != "data"]}
           for public, items in _GROUPS.items()]
    if config.nav is not None:
        config.nav.append({"API reference": nav})
    return config


def on_files(files, config, **kwargs):
    for public, items in _GROUPS.items():
        files.append(File.generated(config, f"{API_DIR}/{public}/index.md",
                                    content=_index(public, items)))
        for e in items:
            if e.kind != "data":
                files.append(File.generated(config, e.page, content=_page(e)))
    return files
