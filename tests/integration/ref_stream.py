#!/usr/bin/env python3
"""ref_stream.py - an independent reader of QEMU 7.2 migration streams, for
tests: rebuilds one RAM block from the stream (last record of each page
wins) and writes it to OUT. No code shared with kvmglue/mstream.c.

usage: ref_stream.py STREAM BLOCK OUT"""
import struct
import sys


def main():
    data = open(sys.argv[1], "rb").read()
    want, out = sys.argv[2], sys.argv[3]
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(data):
            raise ValueError("truncated at %d" % pos)
        b = data[pos:pos + n]
        pos += n
        return b

    def u8():
        return take(1)[0]

    def be32():
        return struct.unpack(">I", take(4))[0]

    def be64():
        return struct.unpack(">Q", take(8))[0]

    def name():
        return take(u8()).decode()

    assert be32() == 0x5145564D and be32() == 3
    if data[pos] == 0x07:
        pos += 1
        take(be32())
        while data[pos] == 0x05:
            pos += 1
            sub = name()
            be32()
            if sub == "configuration/capabilities":
                for _ in range(be32()):
                    name()
            elif sub == "configuration/uuid":
                take(16)
            elif sub == "configuration/target-page-bits":
                be32()
            else:
                raise ValueError(sub)
    sizes, image, block = {}, None, None
    while True:
        t = u8()
        if t in (0x01,):
            sid = be32(); name(); be32(); be32()
        elif t in (0x02, 0x03):
            sid = be32()
        else:
            break                      # FULL or EOF: device state follows
        while True:
            w = be64()
            flags, addr = w & 0xFFF, w & ~0xFFF
            if flags & 0x10:
                assert u8() == 0x7E and be32() == sid
                break
            if flags & 0x04:
                total = addr
                while total:
                    n = name()
                    sizes[n] = be64()
                    total -= sizes[n]
                image = bytearray(sizes[want])
                continue
            if not flags & 0x20:
                block = name()
            if flags & 0x02:
                page = bytes([u8()]) * 4096
            elif flags & 0x08:
                page = take(4096)
            else:
                raise ValueError("flags 0x%x" % flags)
            if block == want:
                image[addr:addr + 4096] = page
    open(out, "wb").write(image)


if __name__ == "__main__":
    main()
