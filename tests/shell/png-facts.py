#!/usr/bin/env python3
"""png-facts.py PNG [#rrggbb ...]: what a PNG shows, as shell assignments,
decoded with the standard library alone (zlib): width, height, colours
(distinct pixel values), ink (per cent of pixels that are not white), and
for each colour given, seen_<rrggbb> (pixels of it, as drawn with
fill-opacity 0.85 over white, give or take 3 per channel). valid=0 when it
is no PNG this reads (8-bit RGB or RGBA, not interlaced)."""
import struct, sys, zlib

def decode(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("not 8-bit RGB(A), or interlaced")
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, [bytes(r[x:x + 3]) for r in rows for x in range(0, stride, bpp)]

try:
    w, h, px = decode(open(sys.argv[1], "rb").read())
except Exception:
    print("valid=0")
    sys.exit(0)
count = {}
for p in px:
    count[p] = count.get(p, 0) + 1
white = count.get(b"\xff\xff\xff", 0)
out = [f"valid=1 width={w} height={h} colours={len(count)} ink={100 * (len(px) - white) // max(1, len(px))}"]
for c in sys.argv[2:]:
    want = [round(0.85 * int(c[i:i + 2], 16) + 0.15 * 255) for i in (1, 3, 5)]
    seen = sum(n for p, n in count.items() if all(abs(p[k] - want[k]) <= 3 for k in range(3)))
    out.append(f"seen_{c[1:]}={seen}")
print(" ".join(out))
