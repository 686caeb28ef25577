# pg_migrate: one way to fold a text into a message - a server's error, a module's output, a list of problems -
# so that every message says it the same way: on one line, cut to a length, or one line of several.

from __future__ import annotations

from collections.abc import Iterable


def clip(text: str, limit: int | None = None, ellipsis: str = "") -> str:
    """TEXT cut to at most LIMIT characters (None: whole), ELLIPSIS ending it in place of what was cut."""
    text = str(text)
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - len(ellipsis)] + ellipsis


def one_line(text: object, limit: int | None = None, ellipsis: str = "") -> str:
    """TEXT on one line: each run of white space (line breaks included) one space, none at either end; then cut
    as clip() cuts it."""
    return clip(" ".join(str(text).split()), limit, ellipsis)


def line_of(text: object, index: int = 0, default: str = "") -> str:
    """One line of TEXT with the white space around the whole text taken off: the first (INDEX 0), the last
    (-1); DEFAULT for a text with no line."""
    lines = str(text or "").strip().splitlines()
    return lines[index] if lines else default


def joined(parts: Iterable[object], separator: str = "; ") -> str:
    """PARTS as one line, each on one line (one_line), SEPARATOR between them."""
    return separator.join(one_line(part) for part in parts)
