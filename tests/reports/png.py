"""Just enough PNG decoding (8-bit RGB or RGBA, not interlaced) to count the colours of a screenshot."""

from __future__ import annotations

import struct
import zlib
from collections import Counter


def pixels(png: bytes) -> Counter[tuple[int, int, int]]:
    """How many pixels of each RGB colour the image has."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind, data = png[offset + 4 : offset + 8], png[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            idat += data
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "an 8-bit RGB(A) PNG"
    size = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * size
    counts: Counter[tuple[int, int, int]] = Counter()
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            line[i] = (line[i] + _predict(kind, left, up, corner)) & 0xFF
        counts.update(tuple(line[i : i + 3]) for i in range(0, stride, size))  # type: ignore[misc]
        previous = line
    return counts


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    estimate = left + up - corner  # Paeth
    near_left, near_up, near_corner = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
    if near_left <= near_up and near_left <= near_corner:
        return left
    return up if near_up <= near_corner else corner
