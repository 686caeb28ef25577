"""Helpers of the fleet page's browser check: real headless Chromium (its own profile directory, as
tests/role/test_fleet.py runs it), a reading of the DOM it rendered, and a PNG decoder small enough to count a
screenshot's colours without an imaging library."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars")


def chromium() -> str:
    """The browser; a skip on a machine without it, a failure under CI (which installs it: the check never
    silently goes away there)."""
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: CI must run the fleet page's browser check")
    pytest.skip("chromium is not installed")


def run_chromium(scratch: Path, *args: str) -> str:
    """Chromium's standard output for ARGS, with a profile of its own under SCRATCH."""
    result = subprocess.run(
        [chromium(), *FLAGS, "--user-data-dir=%s" % (scratch / "chromium-profile"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return result.stdout


class PageShape(HTMLParser):
    """What a rendered page holds: rects of the grids and of the timeline, the failures' rows, the order of the
    sections, and any script element."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict]] = []
        self.grid_cells = 0
        self.timeline_bars = 0
        self.failure_rows = 0
        self.sections: list[str] = []
        self.scripts = 0
        self.texts: list[str] = []

    def inside(self, tag: str, **attributes: str) -> bool:
        return any(
            name == tag and all(attrs.get(key) == value for key, value in attributes.items())
            for name, attrs in self.open
        )

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "script":
            self.scripts += 1
        if tag == "rect" and self.inside("svg", **{"class": "grid"}):
            self.grid_cells += 1
        if tag == "rect" and self.inside("svg", id="timeline"):
            self.timeline_bars += 1
        if tag == "tr" and self.inside("section", id="failures"):
            self.failure_rows += 1
        if tag in ("section", "table") or (tag == "svg" and found.get("id")):
            self.sections.append(found.get("id") or tag)
        if tag not in ("meta", "br", "img", "input", "link", "hr"):  # HTML's void elements here
            self.open.append((tag, found))

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)
        if self.open and self.open[-1][0] == tag:
            self.open.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag not in (name for name, _attrs in self.open):
            return  # a stray end tag closes nothing
        while self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def page_shape(dom: str) -> PageShape:
    shape = PageShape()
    shape.feed(dom)
    shape.close()
    return shape


def paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    to_left, to_up, to_corner = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
    if to_left <= to_up and to_left <= to_corner:
        return left
    return up if to_up <= to_corner else corner


def unfilter(kind: int, line: bytearray, previous: bytes, step: int) -> bytearray:
    """One scanline of PNG's filters undone (RFC 2083, 6): KIND None, Sub, Up, Average or Paeth."""
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up = previous[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
        elif kind == 4:
            line[i] = (line[i] + paeth(left, up, previous[i - step] if i >= step else 0)) & 0xFF
    return line


def png_colours(data: bytes) -> Counter:
    """How many pixels of each colour (r, g, b) an 8-bit RGB or RGBA, non-interlaced PNG holds."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    assert header is not None
    width, height, depth, colour_type, _compression, _filter, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    step = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * step + 1
    colours: Counter = Counter()
    previous = bytes(width * step)
    for row in range(height):
        line = unfilter(raw[row * stride], bytearray(raw[row * stride + 1 : (row + 1) * stride]), previous, step)
        colours.update(zip(line[0::step], line[1::step], line[2::step], strict=True))
        previous = bytes(line)
    return colours
