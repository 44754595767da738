#!/usr/bin/env python3
"""Makes a real-size kernel module from a small fixture one: its .text grows to SIZE bytes of code-like data.

Usage: inflate-module.py IN.ko OUT.ko SIZE_MIB [SEED (any text)]

Every section after .text (so .modinfo, the symbol table and the section header table, which ld puts last) moves
down by the growth, as in the real nvidia.ko, where .modinfo comes after tens of megabytes of code. Anything after
the section header table (an appended signature) is kept. The filler is deterministic (SEED) and compresses about
4:1 like real machine code: each 4 KiB block is 1 KiB of fresh random bytes and 3 KiB repeated from the last 512 KiB.
"""
import random
import struct
import sys


def filler(size, seed):
    rng = random.Random(seed)
    out = bytearray(rng.randbytes(64 * 1024))
    while len(out) < size:
        out += rng.randbytes(1024)
        for _ in range(3):
            back = rng.randrange(1024, min(len(out), 512 * 1024))
            start = len(out) - back
            out += out[start : start + 1024]
    return bytes(out[:size])


def main():
    src, dst, size_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = sys.argv[4] if len(sys.argv) > 4 else "1"
    elf = bytearray(open(src, "rb").read())
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        sys.exit(f"{src}: not a little-endian ELF64 object")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    headers = [bytearray(elf[shoff + i * shentsize : shoff + (i + 1) * shentsize]) for i in range(shnum)]
    strtab_off = struct.unpack_from("<Q", headers[shstrndx], 0x18)[0]

    def name(h):
        at = strtab_off + struct.unpack_from("<I", h, 0)[0]
        return bytes(elf[at : elf.index(b"\0", at)]).decode()

    text = next(h for h in headers if name(h) == ".text")
    text_off, text_size = struct.unpack_from("<QQ", text, 0x18)
    new_size = size_mib << 20
    grow = new_size - text_size
    grow += (-grow) % 4096  # keep every later offset's alignment
    new_size = text_size + grow
    body = filler(new_size, seed)
    for h in headers:
        off, = struct.unpack_from("<Q", h, 0x18)
        if h is not text and off > text_off:
            struct.pack_into("<Q", h, 0x18, off + grow)
    struct.pack_into("<Q", text, 0x20, new_size)
    sht_end = shoff + shnum * shentsize
    out = bytearray(elf[:text_off]) + body + elf[text_off + text_size : shoff]
    struct.pack_into("<Q", out, 0x28, shoff + grow)
    for h in headers:
        out += h
    out += elf[sht_end:]
    open(dst, "wb").write(out)


main()
