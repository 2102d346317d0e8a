# MicroPython-only accelerator for the token chain: one OpenPAYGO step (SipHash-2-4 of the
# code, folded back to a code) as a viper function on 32-bit halves, so the meter never
# builds 64-bit heap integers (on a 32-bit MCU each of those is a heap "long"). It is the
# same arithmetic as prepay.siphash.hash8 + opaygo's folds; prepay.opaygo uses it when it
# imports (MicroPython) and falls back to that pure code on CPython, and a device test
# checks both agree. The `& M` masks matter on 64-bit ports and are no-ops on 32-bit ones;
# viper shifts uint right logically and compares uint unsigned on every target.
import micropython


@micropython.viper
def step(k: ptr32, io: ptr32, ext: int) -> int:
    """k: SipHash key as 4 words (k0 lo, k0 hi, k1 lo, k1 hi). Standard (ext 0): the code
    is io[0] and the next code is returned. Extended (ext 1): the 40-bit code is io[0]
    (low 32 bits) and io[1] (high), and the next code is written back there."""
    M = uint(0xFFFFFFFF)
    if ext:
        c = uint(io[1])
        d = uint(io[0])
    else:
        c = uint(io[0])
        d = c
    ml = ((c & 0xFF) << 24) | (((c >> 8) & 0xFF) << 16) | (((c >> 16) & 0xFF) << 8) | ((c >> 24) & 0xFF)
    mh = ((d & 0xFF) << 24) | (((d >> 8) & 0xFF) << 16) | (((d >> 16) & 0xFF) << 8) | ((d >> 24) & 0xFF)
    k0l = uint(k[0])
    k0h = uint(k[1])
    k1l = uint(k[2])
    k1h = uint(k[3])
    v0l = k0l ^ uint(0x70736575)
    v0h = k0h ^ uint(0x736F6D65)
    v1l = k1l ^ uint(0x6E646F6D)
    v1h = k1h ^ uint(0x646F7261)
    v2l = k0l ^ uint(0x6E657261)
    v2h = k0h ^ uint(0x6C796765)
    v3l = k1l ^ uint(0x79746573) ^ ml
    v3h = k1h ^ uint(0x74656462) ^ mh
    n = 0
    while n < 8:               # 2 rounds for the block, 2 for the length block, 4 final
        if n == 2:
            v0l ^= ml
            v0h ^= mh
            v3h ^= uint(0x08000000)          # length 8 in the top byte
        elif n == 4:
            v0h ^= uint(0x08000000)
            v2l ^= uint(0xFF)
        t = (v0l + v1l) & M                  # v0 += v1
        v0h = (v0h + v1h + (1 if t < v0l else 0)) & M
        v0l = t
        t = ((v1l << 13) | (v1h >> 19)) & M  # v1 = rotl(v1, 13) ^ v0
        v1h = (((v1h << 13) | (v1l >> 19)) & M) ^ v0h
        v1l = t ^ v0l
        t = v0l                              # v0 = rotl(v0, 32)
        v0l = v0h
        v0h = t
        t = (v2l + v3l) & M                  # v2 += v3
        v2h = (v2h + v3h + (1 if t < v2l else 0)) & M
        v2l = t
        t = ((v3l << 16) | (v3h >> 16)) & M  # v3 = rotl(v3, 16) ^ v2
        v3h = (((v3h << 16) | (v3l >> 16)) & M) ^ v2h
        v3l = t ^ v2l
        t = (v0l + v3l) & M                  # v0 += v3
        v0h = (v0h + v3h + (1 if t < v0l else 0)) & M
        v0l = t
        t = ((v3l << 21) | (v3h >> 11)) & M  # v3 = rotl(v3, 21) ^ v0
        v3h = (((v3h << 21) | (v3l >> 11)) & M) ^ v0h
        v3l = t ^ v0l
        t = (v2l + v1l) & M                  # v2 += v1
        v2h = (v2h + v1h + (1 if t < v2l else 0)) & M
        v2l = t
        t = ((v1l << 17) | (v1h >> 15)) & M  # v1 = rotl(v1, 17) ^ v2
        v1h = (((v1h << 17) | (v1l >> 15)) & M) ^ v2h
        v1l = t ^ v2l
        t = v2l                              # v2 = rotl(v2, 32)
        v2l = v2h
        v2h = t
        n += 1
    hl = v0l ^ v1l ^ v2l ^ v3l
    hh = v0h ^ v1h ^ v2h ^ v3h
    if not ext:
        x = (hl ^ hh) >> 2                   # xor the halves, keep bits 2..31
        if x > uint(999999999):
            x -= uint(73741825)
        return int(x)
    tl = ((hh << 8) | (hl >> 24)) & M        # bits 24..63: a 40-bit code
    th = hh >> 24
    if th > uint(0xE8) or (th == uint(0xE8) and tl > uint(0xD4A50FFF)):   # > 999999999999
        t = (tl - uint(0x2B5AF001)) & M      # - 99511627777
        th = th - uint(0x17) - (1 if tl < uint(0x2B5AF001) else 0)
        tl = t
    io[0] = tl
    io[1] = th
    return 0
