#!/usr/bin/env python3
"""pngstat.py — facts about screenshots for the integration tests (standard
library only: the PNGs are 8-bit RGB as `vdi-vmm ctl screenshot` writes).

  pngstat.py size FILE                  -> "W H"
  pngstat.py colours FILE [X Y W H]     -> number of distinct colours
  pngstat.py mean FILE X Y W H          -> "R G B" mean of the region
  pngstat.py diff A B [X Y W H]         -> pixels that differ
  pngstat.py mad A B [X Y W H]          -> "R G B" mean absolute difference per
                                           channel (lossy codecs: JPEG, H.264)
"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or colour != 2:
                sys.exit(f"{path}: expected 8-bit RGB")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = 1 + width * 3
    rows = []
    prev = bytearray(width * 3)
    for y in range(height):
        f, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        if f != 0:  # our writer uses filter 0 only; ImageMagick's (JPEG snapshots converted) uses all five
            for i in range(len(line)):
                a = line[i - 3] if i >= 3 else 0
                b = prev[i]
                c = prev[i - 3] if i >= 3 else 0
                if f == 1:
                    line[i] = (line[i] + a) & 255
                elif f == 2:
                    line[i] = (line[i] + b) & 255
                elif f == 3:
                    line[i] = (line[i] + (a + b) // 2) & 255
                elif f == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                    line[i] = (line[i] + pred) & 255
                else:
                    sys.exit(f"{path}: filter {f} not supported")
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def region(args, width, height):
    if not args:
        return 0, 0, width, height
    x, y, w, h = (int(a) for a in args)
    return x, y, min(w, width - x), min(h, height - y)


def pixels(rows, x, y, w, h):
    for yy in range(y, y + h):
        row = rows[yy]
        for xx in range(x, x + w):
            yield row[xx * 3:xx * 3 + 3]


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "size":
        w, h, _ = read_png(args[0])
        print(w, h)
    elif cmd == "colours":
        w, h, rows = read_png(args[0])
        print(len(set(pixels(rows, *region(args[1:], w, h)))))
    elif cmd == "mean":
        w, h, rows = read_png(args[0])
        x, y, rw, rh = region(args[1:], w, h)
        sums = [0, 0, 0]
        for p in pixels(rows, x, y, rw, rh):
            for i in range(3):
                sums[i] += p[i]
        n = max(rw * rh, 1)
        print(*(s // n for s in sums))
    elif cmd == "diff":
        wa, ha, ra = read_png(args[0])
        wb, hb, rb = read_png(args[1])
        if (wa, ha) != (wb, hb):
            print(wa * ha)
            return
        reg = region(args[2:], wa, ha)
        print(sum(1 for a, b in zip(pixels(ra, *reg), pixels(rb, *reg)) if a != b))
    elif cmd == "mad":
        wa, ha, ra = read_png(args[0])
        wb, hb, rb = read_png(args[1])
        if (wa, ha) != (wb, hb):
            sys.exit(f"sizes differ: {wa}x{ha} and {wb}x{hb}")
        reg = region(args[2:], wa, ha)
        sums = [0, 0, 0]
        for a, b in zip(pixels(ra, *reg), pixels(rb, *reg)):
            for i in range(3):
                sums[i] += abs(a[i] - b[i])
        n = max(reg[2] * reg[3], 1)
        print(*(f"{s / n:.2f}" for s in sums))
    else:
        sys.exit(__doc__)


main()
