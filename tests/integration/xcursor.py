#!/usr/bin/env python3
"""xcursor.py — the X server's current cursor image (XFixes), for the RDP
tests: prints "W H XHOT YHOT OPAQUE" (OPAQUE: pixels with any alpha)."""
import ctypes
import sys


class CursorImage(ctypes.Structure):
    _fields_ = [("x", ctypes.c_short), ("y", ctypes.c_short), ("width", ctypes.c_ushort),
                ("height", ctypes.c_ushort), ("xhot", ctypes.c_ushort), ("yhot", ctypes.c_ushort),
                ("serial", ctypes.c_ulong), ("pixels", ctypes.POINTER(ctypes.c_ulong)),
                ("atom", ctypes.c_ulong), ("name", ctypes.c_char_p)]


def main():
    x11 = ctypes.CDLL("libX11.so.6")
    xfixes = ctypes.CDLL("libXfixes.so.3")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    xfixes.XFixesGetCursorImage.restype = ctypes.POINTER(CursorImage)
    xfixes.XFixesGetCursorImage.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(None)
    if not display:
        sys.exit("xcursor.py: cannot open the display")
    image = xfixes.XFixesGetCursorImage(display)
    if not image:
        sys.exit("xcursor.py: no cursor image")
    c = image.contents
    # XFixes pixels are unsigned longs holding 32-bit ARGB each.
    opaque = sum(1 for i in range(c.width * c.height) if (c.pixels[i] >> 24) & 0xff)
    print(c.width, c.height, c.xhot, c.yhot, opaque)


main()
