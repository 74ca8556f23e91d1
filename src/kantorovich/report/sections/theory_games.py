"""Report sections: theory_games (filled in by its issue)."""

from .. import register  # noqa: F401
