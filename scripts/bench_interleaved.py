#!/usr/bin/env python3
"""Whole-process timings of command pairs, in alternating blocks.

    bench_interleaved.py ROUNDS BLOCK NAME SLIPWAY_CMD NIXPACKS_CMD [NAME A B ...]

hyperfine runs one command its 200 times, then the next: on a shared
machine the load drifts between the two blocks, and the medians of two
blocks can differ by more than the tools do. Here each round runs BLOCK
runs of one command, then BLOCK of the other (which goes first
alternates), so both see the same drift. BLOCK 1 interleaves run by run
(each command then starts after the other evicted its caches); a larger
block keeps the back-to-back runs hyperfine measures. The answer is the
median of the per-round differences of the block medians (slipway minus
nixpacks) and how many rounds slipway won. No shell: commands are spawned
directly.

Both executables are first dropped from the page cache, so both are read
back from disk the same way. How a binary's pages came into the cache
changes its start-up: the same slipway binary takes ~509 page faults per
detect as the linker left it in the cache, ~460 once copied (as `cargo
install` put nixpacks in place) and ~482 read back from disk, about 4 us
each on this VM.
"""
import os
import shutil
import statistics
import sys
import time


def spawn_ms(argv):
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        start = time.perf_counter_ns()
        pid = os.posix_spawnp(
            argv[0], argv, os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)],
        )
        _, status = os.waitpid(pid, 0)
        elapsed = (time.perf_counter_ns() - start) / 1e6
    finally:
        os.close(devnull)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: `{' '.join(argv)}` failed")
    return elapsed


def evict(executable):
    """Drops `executable`'s pages from the page cache (read back on next use)."""
    path = shutil.which(executable) or executable
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main():
    rounds, block = int(sys.argv[1]), int(sys.argv[2])
    rest = sys.argv[3:]
    if len(rest) % 3 or block < 1:
        sys.exit("usage: bench_interleaved.py ROUNDS BLOCK NAME CMD_A CMD_B [NAME CMD_A CMD_B ...]")
    pairs = [(rest[i], rest[i + 1].split(), rest[i + 2].split()) for i in range(0, len(rest), 3)]
    print(f"  {'project':18} {'slipway p50':>12} {'nixpacks p50':>13} {'round diff p50':>15} {'slipway faster in':>18}")
    os.sync()
    for name, a, b in pairs:
        evict(a[0])
        evict(b[0])
        for _ in range(10):  # warm-up, both
            spawn_ms(a)
            spawn_ms(b)
        times_a, times_b, diffs = [], [], []
        for round_ in range(rounds):
            first, second = (a, b) if round_ % 2 == 0 else (b, a)
            block_first = [spawn_ms(first) for _ in range(block)]
            block_second = [spawn_ms(second) for _ in range(block)]
            block_a, block_b = (block_first, block_second) if first is a else (block_second, block_first)
            times_a += block_a
            times_b += block_b
            diffs.append(statistics.median(block_a) - statistics.median(block_b))
        won = sum(1 for d in diffs if d < 0)
        print(
            f"  {name:18} {statistics.median(times_a):9.2f} ms {statistics.median(times_b):10.2f} ms"
            f" {statistics.median(diffs):+12.2f} ms {won:>8} of {rounds} rounds"
        )


if __name__ == "__main__":
    main()
