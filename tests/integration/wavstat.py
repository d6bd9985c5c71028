#!/usr/bin/env python3
"""wavstat.py — what a 16-bit PCM WAV holds, with the standard library only.

  wavstat.py tone FILE           the loud part's dominant frequency (Hz),
                                 duration (ms) and peak, from the first channel
  wavstat.py make FILE HZ SECONDS [CHANNELS]
                                 writes a 48 kHz sine at half scale
"""
import math
import struct
import sys
import wave


def read_first_channel(path):
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            sys.exit(f"{path}: not 16-bit")
        ch, rate = w.getnchannels(), w.getframerate()
        raw = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(raw) // 2}h", raw)
    return list(samples[::ch]), rate


def power_at(x, rate, hz):
    """Goertzel: the power of one frequency in x."""
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + k * s1 - s2, s1
    return s1 * s1 + s2 * s2 - k * s1 * s2


def dominant(x, rate):
    best = max(range(100, 4001, 10), key=lambda f: power_at(x, rate, f))
    fine = [best + d / 4 for d in range(-40, 41)]
    return max(fine, key=lambda f: power_at(x, rate, f))


def tone(path):
    x, rate = read_first_channel(path)
    peak = max((abs(v) for v in x), default=0)
    if peak < 100:
        print("silence")
        return
    loud = [i for i, v in enumerate(x) if abs(v) > peak / 2]
    first, last = loud[0], loud[-1]
    seg = x[first:last + 1]
    # The frequency from the middle of the tone (at most 200 ms of it).
    mid = len(seg) // 2
    half = min(len(seg) // 2, rate // 10)
    hz = dominant(seg[mid - half:mid + half], rate)
    print(f"hz {hz:.1f} ms {(last - first + 1) * 1000 / rate:.1f} peak {peak}")


def make(path, hz, seconds, channels=1):
    rate = 48000
    n = int(rate * seconds)
    frames = bytearray()
    for i in range(n):
        v = int(16000 * math.sin(2 * math.pi * hz * i / rate))
        frames += struct.pack("<h", v) * channels
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "tone":
        tone(sys.argv[2])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "make":
        make(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) == 6 else 1)
    else:
        sys.exit(__doc__)
