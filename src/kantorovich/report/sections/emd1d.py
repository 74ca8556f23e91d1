"""Report sections: emd1d (filled in by its issue)."""

from .. import register  # noqa: F401
