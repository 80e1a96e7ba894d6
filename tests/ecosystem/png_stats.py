#!/usr/bin/python3
"""Reads a PNG screenshot with the standard library alone (zlib; 8-bit RGB or RGBA, non-interlaced, as
Chromium writes them) and checks it shows a rendered report, not a blank or error page:
  - at least MIN_INK of the pixels are not near-white;
  - for each COLOR given as RRGGBB, at least MIN_PIXELS pixels are within 40 (sum of |channel diffs|).
Prints the measured fractions. Usage: png_stats.py FILE.png MIN_INK MIN_PIXELS COLOR...
"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"FAIL: {path} is not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    if depth != 8 or color not in (2, 6) or interlace:
        sys.exit(f"FAIL: unsupported PNG (depth {depth}, color type {color}, interlace {interlace})")
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    path, min_ink, min_pixels = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    colors = [tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) for c in sys.argv[4:]]
    width, height, bpp, rows = read_png(path)
    ink, hits = 0, [0] * len(colors)
    for row in rows:
        for x in range(0, width * bpp, bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if r + g + b < 720:
                ink += 1
            for k, (cr, cg, cb) in enumerate(colors):
                if abs(r - cr) + abs(g - cg) + abs(b - cb) <= 40:
                    hits[k] += 1
    fraction = ink / (width * height)
    print(f"{path}: {width}x{height}, {100 * fraction:.1f}% ink, color pixels {dict(zip(sys.argv[4:], hits))}")
    if fraction < min_ink:
        sys.exit(f"FAIL: the screenshot is blank ({100 * fraction:.2f}% ink < {100 * min_ink}%)")
    for name, count in zip(sys.argv[4:], hits):
        if count < min_pixels:
            sys.exit(f"FAIL: color #{name} appears in {count} pixels < {min_pixels}: that chart line is not drawn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
