#!/usr/bin/env python3
"""crest on a full disk: the file and sqlite stores on a small tmpfs.

Per store and slack (0 and 12 KiB): mount a 4 MiB tmpfs, start crest with its store there, create
dimensions, fill the tmpfs with a filler file leaving `slack` bytes free, then:
  * PATCHes (existing and new ids) answer within the timeout, either 5xx JSON
    with a "message" (503/507) or 200 — and a 200 must then be durable; at
    least one must be refused (else the disk was never full for crest);
  * crest keeps answering /healthz; GETs of existing dimensions keep their
    last acknowledged values;
  * nothing stored is damaged: restart crest on the still-full disk and read
    everything back (file: every *.json parses; sqlite: integrity_check);
  * delete the filler, PATCH again: 200, and durable across a restart.
The tmpfs is always unmounted. Needs root (mount); when not root or the mount
fails: skip, or fail under CREST_REQUIRE_SERVICES=1.

Usage: disk_full.py [--stores file,sqlite] [--size 4m] [--slack 0,12288]
"""

import argparse
import errno
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True   # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from crash_safety import check_file_store, check_sqlite  # noqa: E402

N_EXISTING = 10
N_NEW = 40
REQ_TIMEOUT = 15


def fill(path):
    """Writes `path` until ENOSPC (64 KiB, then 4 KiB, then 512 B, then 1 B chunks). Returns bytes written."""
    total = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 1):
            buf = b"\0" * chunk
            while True:
                try:
                    n = f.write(buf)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
                total += n
                if n < chunk:
                    break
        try:
            os.fsync(f.fileno())
        except OSError:
            pass
    return total


def free_bytes(mnt):
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize


class Run:
    def __init__(self, store, binary, size, work, slack):
        self.store, self.binary, self.size, self.work, self.slack = store, binary, size, work, slack
        self.failures = []
        self.notes = []
        self.values = {}    # id -> last acknowledged desiredCapacity
        self.acked = {}     # id -> every desiredCapacity acknowledged with 200
        self.refused = 0
        self.full_acks = 0

    def fail(self, msg):
        self.failures.append(f"{self.store} (slack {self.slack} B): {msg}")

    def patch(self, crest, i, v, phase):
        """PATCH i to v; returns the status (None: no answer). 200 updates self.values."""
        t = time.monotonic()
        try:
            st, body = crest.request("PATCH", common.dim_path(i), {"desiredCapacity": v}, timeout=REQ_TIMEOUT)
        except OSError as e:
            alive = "still running" if crest.alive() else f"exited with {crest.proc.returncode}"
            self.fail(f"{phase}: PATCH {i} desiredCapacity={v}: no answer after {time.monotonic() - t:.1f}s "
                      f"({e!r}; crest {alive})\n{crest.log_tail()}")
            return None
        if st == 200:
            if not isinstance(body, dict) or body.get("desiredCapacity") != v:
                self.fail(f"{phase}: PATCH {i} desiredCapacity={v}: 200 but the answer shows {body!r}")
            self.values[i] = v
            self.acked.setdefault(i, {1.0}).add(v)
        return st, body

    def check_reads(self, crest, phase):
        for i, v in self.values.items():
            try:
                st, body = crest.request("GET", common.dim_path(i), timeout=REQ_TIMEOUT)
            except OSError as e:
                self.fail(f"{phase}: GET {i}: no answer ({e!r})")
                continue
            if st != 200 or not isinstance(body, dict):
                self.fail(f"{phase}: GET {i} answered {st} {body!r}, want 200 with desiredCapacity {v}")
            elif body.get("desiredCapacity") != v:
                self.fail(f"{phase}: GET {i}: desiredCapacity {body.get('desiredCapacity')!r}, "
                          f"want {v} (the last value acknowledged with 200)")

    def check_histories(self, crest, phase):
        for i, v in self.values.items():
            for e in common.check_history(crest, i, v, self.acked[i]):
                self.fail(f"{phase}: history: {e}")

    def check_at_rest(self, loc, phase):
        """crest must be stopped: the store parses / passes integrity_check."""
        if self.store == "file":
            n, errs = check_file_store(loc)
            if n < len(self.values):
                errs.append(f"{loc}: {n} documents, want at least {len(self.values)}")
        else:
            errs = check_sqlite(loc)
        for e in errs:
            self.fail(f"{phase}: {e}")

    def go(self):
        mnt = os.path.join(self.work, f"tmpfs-{self.store}-{self.slack}")
        os.makedirs(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return f"mount -t tmpfs on {mnt} failed: {r.stderr.strip()}"
        crest = None
        try:
            if self.store == "file":
                loc = os.path.join(mnt, "state")
                url = f"file:{loc}"
            else:
                loc = os.path.join(mnt, "crest.db")
                url = f"sqlite:{loc}"
            crest = common.Crest(self.binary, url, self.work, name=f"crest-diskfull-{self.store}-{self.slack}")
            self.scenario(crest, mnt, loc)
        finally:
            if crest is not None:
                crest.stop()
            self.unmount(mnt)
        return None

    def unmount(self, mnt):
        for _ in range(20):
            r = subprocess.run(["umount", mnt], capture_output=True, text=True)
            if r.returncode == 0:
                os.rmdir(mnt)
                return
            time.sleep(0.25)
        self.fail(f"cannot unmount {mnt}: {r.stderr.strip()} (left mounted; `umount {mnt}` by hand)")

    def scenario(self, crest, mnt, loc):
        crest.start()
        existing = [f"diskfull-{self.store}-{k}" for k in range(N_EXISTING)]
        for k, i in enumerate(existing):
            st = self.patch(crest, i, 10 + k, "setup (disk not full)")
            if st is None or st[0] != 200:
                self.fail(f"setup: PATCH {i} answered {st}, want 200 on an empty tmpfs")
                return
        filler = os.path.join(mnt, "filler")
        written = fill(filler)
        if self.slack:
            written -= self.slack
            os.truncate(filler, written)
        self.notes.append(f"filler {written} B, {free_bytes(mnt)} B free")

        # PATCHes on the full disk: existing ids (new documents/WAL frames) and new ids.
        v = 1000
        for phase, ids in (("full disk, existing ids", existing),
                           ("full disk, new ids", [f"diskfull-{self.store}-new-{k}" for k in range(N_NEW)])):
            for i in ids:
                v += 1
                res = self.patch(crest, i, v, phase)
                if res is None:
                    if not crest.alive():
                        return
                    continue
                st, body = res
                if st == 200:
                    self.full_acks += 1
                elif st in (503, 507) and isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
                    self.refused += 1
                    if self.refused == 1:
                        self.notes.append(f"first refusal {st} {body['message']!r}")
                else:
                    self.fail(f"{phase}: PATCH {i} desiredCapacity={v} answered {st} {body!r}; "
                              f"want 503/507 JSON with a message (or a durable 200)")
        if self.refused == 0:
            self.fail(f"no PATCH was refused on the full disk ({self.full_acks} answered 200): the test did not fill it")
        try:
            st, body = crest.request("GET", "/healthz", timeout=REQ_TIMEOUT)
            if st != 200:
                self.fail(f"full disk: GET /healthz answered {st} {body!r}")
        except OSError as e:
            self.fail(f"full disk: GET /healthz: no answer ({e!r})")
        if not crest.alive():
            self.fail(f"full disk: crest exited with {crest.proc.returncode}:\n{crest.log_tail()}")
            return
        self.check_reads(crest, "full disk, same process")

        # Restart on the still-full disk.
        rc = crest.stop()
        if rc != 0:
            self.fail(f"full disk: crest exited with {rc} on SIGTERM, want 0:\n{crest.log_tail()}")
        self.check_at_rest(loc, "full disk, crest stopped")
        try:
            crest.start()
            self.check_reads(crest, "full disk, after restart")
            self.check_histories(crest, "full disk, after restart")
            crest.stop()
        except RuntimeError as e:
            self.fail(f"crest cannot start on the full disk ({free_bytes(mnt)} B free): {e}")

        # Free the space: PATCH again, durable across a restart (kill -9, the harsher one).
        os.remove(filler)
        try:
            crest.start()
        except RuntimeError as e:
            self.fail(f"after deleting the filler: {e}")
            return
        for i in list(self.values) + [f"diskfull-{self.store}-after"]:
            v += 1
            res = self.patch(crest, i, v, "space freed")
            if res is not None and res[0] != 200:
                self.fail(f"space freed: PATCH {i} desiredCapacity={v} answered {res[0]} {res[1]!r}, want 200")
        crest.kill()
        self.check_at_rest(loc, "space freed, after kill -9")
        try:
            crest.start()
        except RuntimeError as e:
            self.fail(f"space freed: restart after kill -9: {e}")
            return
        self.check_reads(crest, "space freed, after kill -9 and restart")
        self.check_histories(crest, "space freed, after kill -9 and restart")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stores", default="file,sqlite")
    ap.add_argument("--size", default="4m")
    ap.add_argument("--slack", default="0,12288",
                    help="bytes left free after filling, one pass each (default: 0 and 12 KiB)")
    args = ap.parse_args()
    binary = common.crest_bin()
    if os.geteuid() != 0:
        msg = "disk_full: not root, cannot mount a tmpfs"
        if common.require_services():
            print(f"FAIL {msg} (CREST_REQUIRE_SERVICES=1)")
            return 1
        print(f"{msg}: SKIP (set CREST_REQUIRE_SERVICES=1 to fail instead)")
        return 0
    work = common.workdir("crest-diskfull-")
    print(f"disk_full: binary {binary}, stores {args.stores}, tmpfs size {args.size}, work dir {work}")
    failed = False
    t0 = time.monotonic()
    passes = [(st.strip(), int(sl)) for st in args.stores.split(",") if st.strip() for sl in args.slack.split(",")]
    for store, slack in passes:
        if store not in ("file", "sqlite"):
            print(f"FAIL disk_full: unknown store {store!r} (file, sqlite)")
            failed = True
            continue
        ts = time.monotonic()
        run = Run(store, binary, args.size, work, slack)
        try:
            skip = run.go()
        except RuntimeError as e:
            run.fail(str(e))
            skip = None
        if skip:
            if common.require_services():
                print(f"disk_full: {store}: FAIL {skip} (CREST_REQUIRE_SERVICES=1)")
                failed = True
            else:
                print(f"disk_full: {store}: SKIP {skip} (set CREST_REQUIRE_SERVICES=1 to fail instead)")
            continue
        print(f"disk_full: {store} slack={slack}B: refused_on_full={run.refused} acked_on_full={run.full_acks} "
              f"dimensions={len(run.values)} {'; '.join(run.notes)}; failures={len(run.failures)} "
              f"({time.monotonic() - ts:.1f}s)")
        for f in run.failures:
            print(f"  FAIL {f}")
        failed |= bool(run.failures)
    if failed:
        print(f"disk_full: kept {work} (crest logs) for inspection")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"disk_full: {'FAIL' if failed else 'ok'} in {time.monotonic() - t0:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
