"""Benchmark (make bench; not part of make test): 100,000 random codes against a provisioned
meter's token decoder on the unix port (lockout bypassed for the measurement), for the
standard 9-digit tokens, the extended 12-digit ones, and a narrower counter window.
Prints the measured false-acceptance rate beside the theoretical one, what an attacker can
expect under the lockout, and decode times (viper chain step vs bytecode, same run).
docs/tokens.md quotes these figures. Nothing here asserts a time."""
import math

import bundle
import upy

N = 100_000
OLDER = 16          # prepay.opaygo.OLDER: unused older ADD tokens still accepted
SYNC_JUMP = 100


def positions(last, used, max_jump, value, ext):
    """Counts at which a code carrying `value` would be accepted (prepay.opaygo rules)."""
    def is_used(c):
        b = last - c
        return 0 <= b <= OLDER and used >> b & 1
    n = 0
    for c in range(max(0, last - max(OLDER, max_jump)), last + SYNC_JUMP + 1):
        odd = c & 1
        if not ext and value in (996, 997):
            continue
        if not ext and value == 999:                    # counter sync: odd counts only
            ok = odd and last - max_jump < c <= last + SYNC_JUMP and not is_used(c)
        elif not ext and value == 998:                  # disable: odd, ahead only
            ok = odd and last < c <= last + max_jump
        elif odd:                                       # SET: ahead only
            ok = last < c <= last + max_jump
        else:                                           # ADD: ahead, or unused and recent
            ok = last < c <= last + max_jump or (0 < last - c < OLDER and not is_used(c))
        n += bool(ok)
    return n


def theory(last, used, max_jump, ext):
    """Per random code: P(value) * accepted positions * P(6 authenticating digits match).
    A uniformly random code's high digits are uniform, so the match chance is exactly
    1e-6 per position, whatever the chain's own distribution."""
    if ext:
        return positions(last, used, max_jump, 1, ext) * 1e-6
    return sum(positions(last, used, max_jump, v, ext) for v in range(1000)) / 1000 * 1e-6


def interval(k, n):
    """95 % interval of a Poisson count k in n trials, as rates."""
    lo = 0.0 if k == 0 else (k - 1.96 * math.sqrt(k)) / n
    return max(0.0, lo), (k + 1.96 * math.sqrt(k) + 1.92) / n


def run(tmp_path, ext, max_jump, seed):
    root = tmp_path / ("x%d-%d" % (ext, max_jump))
    root.mkdir()
    (r,) = upy.run_json("fuzz_codes.py", N, int(ext), max_jump, seed, METER_ROOT=root,
                        METER_EPOCH=1737331200, MICROPYPATH=bundle.micropypath(), timeout=900)
    return r


def per_day(far):
    # lockout steady state: one bad entry per 1,280 s after the first 3 free ones and the
    # 10..640 s ladder (about 10 more entries in the first 21 minutes)
    attempts = 86400 / 1280
    return attempts, attempts * far


def test_bench_token_fuzz(tmp_path):
    print()
    for ext, max_jump, seed in ((False, 64, 1), (True, 64, 2), (False, 8, 3)):
        r = run(tmp_path, ext, max_jump, seed)
        k = len(r["hits"])
        far = k / N
        th = theory(r["last"], r["used"], max_jump, ext)
        lo, hi = interval(k, N)
        name = "%s, max_jump %d" % ("extended 12-digit" if ext else "standard 9-digit", max_jump)
        att, succ = per_day(th)
        print("%s: %d random codes, %d accepted -> measured %.2e (95%% %.1e..%.1e), "
              "theory %.2e per code (%.1f s on the unix port)"
              % (name, N, k, far, lo, hi, th, r["ms"] / 1000))
        print("   under lockout: %.1f guesses/day -> %.4f expected successes/day "
              "(one per %.0f days)" % (att, succ, 1 / succ))
        if r["hits"]:
            print("   accepted: " + ", ".join("%s (value %d, count %d)" % (h[0], h[1], h[3])
                                             for h in r["hits"][:8]))
        for at, fast, slow in r["timing"]:
            print("   decode at count %4d: viper %.2f ms, bytecode %.1f ms, ratio %.0fx"
                  % (at, fast, slow, slow / fast))
        assert r["n"] == N
