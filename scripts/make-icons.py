#!/usr/bin/env python3
"""Draws the demo app's icons (www/icons/icon-192.png, icon-512.png): an upward
arrow into a tray on the theme colour. Standard library only; run it again after
changing the drawing."""
import struct
import zlib
from pathlib import Path

THEME = (31, 94, 160)
WHITE = (255, 255, 255)


def pixel(x: float, y: float) -> tuple:
    """The colour at (x, y) in a unit square."""
    # Rounded corners (maskable icons get a safe zone; keep the art in the middle 60 %).
    r = 0.18
    cx, cy = min(max(x, r), 1 - r), min(max(y, r), 1 - r)
    if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
        return None
    # The tray: a U below the arrow.
    if 0.28 <= x <= 0.72 and 0.66 <= y <= 0.72:
        return WHITE
    if (0.28 <= x <= 0.34 or 0.66 <= x <= 0.72) and 0.54 <= y <= 0.72:
        return WHITE
    # The arrow: a shaft and a head pointing up.
    if 0.46 <= x <= 0.54 and 0.36 <= y <= 0.62:
        return WHITE
    if 0.22 <= y <= 0.40 and abs(x - 0.5) <= (y - 0.22) * 0.9:
        return WHITE
    return THEME


def png(size: int) -> bytes:
    rows = []
    for j in range(size):
        row = bytearray([0])
        for i in range(size):
            colour = pixel((i + 0.5) / size, (j + 0.5) / size)
            row += bytes((*colour, 255)) if colour else bytes((0, 0, 0, 0))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "www" / "icons"
    out.mkdir(exist_ok=True)
    for size in (192, 512):
        (out / f"icon-{size}.png").write_bytes(png(size))
        print(f"wrote {out}/icon-{size}.png")
