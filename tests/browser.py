"""A real browser for page tests: headless Chromium renders a local file, gives back its DOM after
scripts would have run, and a screenshot (a PNG, checked with the standard library only).

Where Chromium is missing the test is skipped saying so, unless AFTERSALES_REQUIRE_BROWSER=1 (CI), then
it fails. The browser runs with no network features, in a profile of its own, and is killed when it
outlives `TIMEOUT`.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

TIMEOUT = 60.0  # seconds; a first start on a loaded 2-core machine takes a few
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    """The Chromium binary, or skip (fail under AFTERSALES_REQUIRE_BROWSER=1) naming what to install."""
    for name in CANDIDATES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    reason = "no Chromium on this machine (apt-get install -y chromium)"
    if os.environ.get("AFTERSALES_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and AFTERSALES_REQUIRE_BROWSER=1 requires it")
    pytest.skip(reason)


def _run(args: list[str]) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # its helper processes in one group, killed together on timeout
        )
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            raise AssertionError(f"Chromium did not finish within {TIMEOUT:.0f} s") from None
        assert proc.returncode == 0, f"Chromium exited with {proc.returncode}"
        return out


def dump_dom(page: Path) -> str:
    """The page's DOM as the browser holds it once loaded (after any script it runs)."""
    return _run(["--dump-dom", page.resolve().as_uri()])


def screenshot(page: Path, target: Path, width: int = 1280, height: int = 2000) -> Path:
    _run([f"--screenshot={target}", f"--window-size={width},{height}", page.resolve().as_uri()])
    return target


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    rows: list[bytes]  # the first rows decoded, RGB(A) bytes each
    channels: int

    def colours(self) -> set[bytes]:
        """The distinct pixel colours of the decoded rows."""
        c = self.channels
        return {row[i : i + c] for row in self.rows for i in range(0, len(row), c)}

    def pixels(self) -> Counter[tuple[int, int, int]]:
        """How many pixels of the decoded rows have each RGB colour."""
        c = self.channels
        return Counter((row[i], row[i + 1], row[i + 2]) for row in self.rows for i in range(0, len(row), c))


def read_png(path: Path, rows: int | None = 400) -> Png:
    """Decode the first `rows` rows (None: all) of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format (depth {depth}, colour type {colour})"
    channels = 3 if colour == 2 else 4
    stride = width * channels
    rows = height if rows is None else rows
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * rows)
    decoded: list[bytes] = []
    previous = bytearray(stride)
    for r in range(min(rows, len(raw) // (stride + 1))):
        kind, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:  # Paeth
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        decoded.append(bytes(line))
        previous = line
    return Png(width, height, decoded, channels)
