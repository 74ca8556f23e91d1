"""Report sections: emd_exact (filled in by its issue)."""

from .. import register  # noqa: F401
