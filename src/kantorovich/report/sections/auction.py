"""Report sections: auction (filled in by its issue)."""

from .. import register  # noqa: F401
