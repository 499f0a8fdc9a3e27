#!/usr/bin/env python3
"""The file store's durability barrier, measured on this disk
(src/store/file/committer.rs chose by it).

Per group of K writes: append a line to K history files and write K temp
documents, then the barrier, either (a) one syncfs(2) of the filesystem or
(b) an fdatasync of each history file and an fsync of each temp file; then
rename the K temp files over their documents and fsync the directory once
(the committer of the second round). Or (c) `journal`, the committer now:
append a line to K history files, append one frame of K records to a
journal and fdatasync it (the durability point), then overwrite the K
existing documents in place, no fsync (a checkpoint, every 5 s, syncs the
filesystem; not counted here). Prints p50 and p99 milliseconds per group,
each barrier twice, alternating. Writes only under DIR (a fresh folder per run, removed
afterwards); a few seconds of small fsyncs: do not run it during a benchmark.

Usage: python3 bench/file_barrier.py DIR [K=16] [ROUNDS=500]
"""

import ctypes
import os
import shutil
import statistics
import sys
import tempfile
import time

libc = ctypes.CDLL("libc.so.6", use_errno=True)


def syncfs(fd):
    if libc.syncfs(fd) != 0:
        raise OSError(ctypes.get_errno(), "syncfs")


def run(barrier, d, k, rounds):
    os.makedirs(os.path.join(d, "history"))
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    doc = b'{"x": "' + b"y" * 400 + b'"}\n'
    times = []
    for r in range(rounds):
        t0 = time.perf_counter()
        if barrier == "journal":
            journal_group(d, k, r, doc)
            times.append((time.perf_counter() - t0) * 1000)
            continue
        files = []
        for i in range(k):
            h = os.open(os.path.join(d, "history", f"{i}.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(h, b'{"revision": %d, "changes": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}\n' % r)
            tmp = os.path.join(d, f"{i}.json.tmp")
            t = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(t, doc)
            files.append((h, t, tmp))
        if barrier == "syncfs":
            syncfs(dfd)
        else:
            for h, t, _ in files:
                os.fdatasync(h)
                os.fsync(t)
        for i, (h, t, tmp) in enumerate(files):
            os.rename(tmp, os.path.join(d, f"{i}.json"))
            os.close(h)
            os.close(t)
        os.fsync(dfd)
        times.append((time.perf_counter() - t0) * 1000)
    os.close(dfd)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.99) - 1)]


def journal_group(d, k, r, doc):
    """(c): history lines, one journal frame + fdatasync, documents overwritten in place."""
    j = os.open(os.path.join(d, "journal"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    frame = bytearray()
    for i in range(k):
        h = os.open(os.path.join(d, "history", f"{i}.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(h, b'{"revision": %d, "changes": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}\n' % r)
        os.close(h)
        frame += doc
    os.write(j, bytes(8) + frame)
    os.fdatasync(j)
    os.close(j)
    for i in range(k):
        f = os.open(os.path.join(d, f"{i}.json"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.pwrite(f, doc, 0)
        os.close(f)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    base = sys.argv[1]
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    work = tempfile.mkdtemp(prefix="file-barrier-", dir=base)
    try:
        for n, barrier in enumerate(["syncfs", "fsync-each", "journal"] * 2):
            p50, p99 = run(barrier, os.path.join(work, f"{n}-{barrier}"), k, rounds)
            print(f"K={k:3d} {barrier:10s} per group p50 {p50:6.3f} ms  p99 {p99:6.3f} ms  -> {k / p50 * 1000:6.0f} writes/s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
