# pg_migrate: one way to fold a text into a message - a server's error, a module's output, a list of problems -
# so that every message says it the same way: on one line, cut to a length, or one line of several.

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


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


def fold(items: Sequence[T], head: int, tail: int, more: Callable[[int], T]) -> list[T]:
    """ITEMS whole when they are few; else the first HEAD, MORE(how many are left out) and the last TAIL. A
    history of hundreds of migrations must not make a message of hundreds of lines: the run report keeps the
    whole list."""
    if len(items) <= head + tail + 1:
        return list(items)
    left_out = len(items) - head - tail
    return [*items[:head], more(left_out), *items[len(items) - tail :]]


def some_words(words: Sequence[str], head: int = 8, tail: int = 3) -> str:
    """WORDS (versions, say) on one line, folded past HEAD + TAIL of them: `001 002 ... (160 more) 169 170`."""
    return " ".join(fold(words, head, tail, lambda left_out: "... (%d more)" % left_out))


def problem_list(problems: Sequence[str], rest: str, shown: int = 5) -> str:
    """PROBLEMS as the lines `  - problem` of a message: the first SHOWN, then how many more, and REST: where to
    find them (the report field that lists every one)."""
    lines = fold(problems, shown, 0, lambda left_out: "... and %d more: %s" % (left_out, rest))
    return "\n".join("  - %s" % line for line in lines)
