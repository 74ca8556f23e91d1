"""The documentation site (mkdocs.yml) builds with warnings as errors, and every public name
of the API has a page generated from its docstring (docs/_hooks/api_pages.py)."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

needs_mkdocs = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None
        for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")),
    reason="the docs extra is not installed (pip install -e '.[docs]'): mkdocs, mkdocs-material, "
           "mkdocstrings[python]",
)


def _hook():
    spec = importlib.util.spec_from_file_location("api_pages", ROOT / "docs" / "_hooks" / "api_pages.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclass looks itself up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out


@needs_mkdocs
def test_every_public_name_has_a_page(site):
    entries = _hook().entries()
    pages = [e for e in entries if e.kind != "data"]
    assert {e.public for e in entries} >= {"kantorovich.ot", "kantorovich.divergences",
                                          "kantorovich.families", "kantorovich.plots",
                                          "kantorovich.toy_experiments.games"}
    for e in pages:
        html = (site / e.page.removesuffix(".md") / "index.html").read_text(encoding="utf-8")
        assert f"{e.public}.{e.name}" in html
        # the real signature, read from the defining module, not the array layer's wrapper
        obj = inspect.unwrap(getattr(importlib.import_module(e.public), e.name))
        for param in inspect.signature(obj).parameters:
            assert param in html, (e.name, param)


@needs_mkdocs
def test_the_guides_are_in_the_site(site):
    for page in ("getting_started", "conventions", "theory", "performance", "gallery", "sinkhorn"):
        assert (site / page / "index.html").is_file(), page


def test_the_lazy_public_functions_keep_their_signature_and_docstring():
    # the site reads the defining module; users' help() and inspect read the wrapped function
    import kantorovich.divergences as div
    import kantorovich.ot as ot

    for mod in (ot, div):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj):
                real = inspect.unwrap(obj)
                assert inspect.signature(obj) == inspect.signature(real), name
                assert obj.__doc__ == real.__doc__ and obj.__doc__, name
                assert obj.__module__ == real.__module__, name
