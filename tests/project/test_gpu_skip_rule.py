"""Without a GPU only tests *marked* gpu are skipped: the CPU compile checks in tests/gpu/ run."""

from __future__ import annotations

import types

from .. import conftest


class _Item:
    def __init__(self, keywords, marked):
        self.keywords = dict.fromkeys(keywords, 1)
        self._marked = marked
        self.added = []

    def get_closest_marker(self, name):
        return object() if name == "gpu" and self._marked else None

    def add_marker(self, mark):
        self.added.append(mark)


def test_the_folder_name_gpu_does_not_skip_cpu_checks(monkeypatch):
    monkeypatch.setattr(conftest, "GPU", False)
    folder_only = _Item(["gpu", "test_gpu_static.py", "test_ptxas_registers"], marked=False)
    marked = _Item(["test_cupy_softmin", "gpu"], marked=True)
    conftest.pytest_collection_modifyitems(types.SimpleNamespace(), [folder_only, marked])
    assert folder_only.added == []
    assert [m.name for m in marked.added] == ["skip"]

