#!/usr/bin/env python3
"""Crash safety of crest's stores: kill -9 under a PATCH load, restart, and
check that every acknowledged PATCH survived and nothing unsent appeared.

For each store (file, sqlite, postgres), ROUNDS rounds of:
  PATCH load from THREADS threads (each owns IDS_PER_THREAD ids and sends
  strictly increasing desiredCapacity values per id, one request at a time);
  kill -9 after a random 0.3-1.5 s; restart on the same store; then every id
  must answer GET 200 with acked <= desiredCapacity <= sent, and the store
  must still parse (file: every *.json document and history line; sqlite:
  PRAGMA integrity_check while crest is down), and each id's newest history
  entry must match its value. A PATCH may answer 200 or the documented 503
  {"message": ...} (counted as busy_503); anything else fails.

Usage: crash_safety.py [--stores file,sqlite,postgres] [--rounds 20] [--seed N]
Env: CREST_BIN (default target/release/crest), CREST_REQUIRE_SERVICES=1 makes
an unreachable Postgres a failure instead of a skip.
"""

import argparse
import hashlib
import http.client
import json
import os
import random
import shutil
import sqlite3
import sys
import threading
import time

sys.dont_write_bytecode = True   # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

THREADS = 8
IDS_PER_THREAD = 3
DEFAULT_DESIRED = 1.0   # what crest reports for a dimension nobody has written
FIRST_VALUE = 100       # first value sent per id, well away from the default
DOC_FIELDS = ("scalableTargetDimensionId", "desiredCapacity", "actualCapacity", "scalingStatus")


class Tracker:
    """Per id: first and highest value sent, highest value acknowledged with 200."""

    def __init__(self, ids):
        self.first = {i: None for i in ids}
        self.sent = {i: None for i in ids}
        self.acked = {i: None for i in ids}
        self.acks = 0
        self.busy = 0     # 503 "state store unavailable" answers (allowed, reported)
        self.other = []   # (id, value, status, body) answers that were not 200
        self.lock = threading.Lock()


def _is_unavailable(raw):
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("message"), str) and bool(body["message"])


def load_thread(port, ids, tr, stop):
    conn = None
    k = 0
    try:
        while not stop.is_set():
            i = ids[k % len(ids)]
            k += 1
            value = (tr.sent[i] or FIRST_VALUE - 1) + 1
            with tr.lock:
                tr.sent[i] = value
                if tr.first[i] is None:
                    tr.first[i] = value
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("PATCH", common.dim_path(i), body=json.dumps({"desiredCapacity": value}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            raw = r.read()
            if r.status == 200:
                body = json.loads(raw)
                with tr.lock:
                    tr.acks += 1
                    tr.acked[i] = value
                    if body.get("desiredCapacity") != value:
                        tr.other.append((i, value, 200, f"answer shows desiredCapacity {body.get('desiredCapacity')!r}"))
            elif r.status == 503 and _is_unavailable(raw):
                # The documented "try again shortly" (e.g. the single SQLite writer connection was
                # not free within crest's acquire timeout on a stalled disk): allowed, not a safety
                # issue — the value counts as sent, so it may or may not be stored.
                with tr.lock:
                    tr.busy += 1
            else:
                with tr.lock:
                    tr.other.append((i, value, r.status, raw[:300].decode("utf-8", "replace")))
                if r.will_close:
                    conn.close()
                    conn = None
    except (OSError, http.client.HTTPException):
        pass   # crest was killed: this request's fate is unknown, which `sent` covers
    finally:
        if conn is not None:
            conn.close()


def check_file_store(d):
    errs = []
    n = 0
    for name in sorted(os.listdir(d)):
        if not name.endswith(".json"):
            continue
        n += 1
        p = os.path.join(d, name)
        try:
            with open(p, "rb") as f:
                doc = json.loads(f.read())
        except ValueError as e:
            errs.append(f"{p}: not valid JSON after kill -9: {e}")
            continue
        missing = [k for k in DOC_FIELDS if k not in doc]
        if missing:
            errs.append(f"{p}: missing fields {missing}: {str(doc)[:200]}")
            continue
        want = hashlib.sha256(doc["scalableTargetDimensionId"].encode()).hexdigest() + ".json"
        if want != name:
            errs.append(f"{p}: holds id {doc['scalableTargetDimensionId']!r}, which belongs in {want}")
    hd = os.path.join(d, "history")
    if os.path.isdir(hd):
        for name in sorted(os.listdir(hd)):
            if not name.endswith(".jsonl"):
                continue
            p = os.path.join(hd, name)
            with open(p, "rb") as f:
                data = f.read()
            for ln, line in enumerate(data.split(b"\n"), 1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except ValueError as e:
                    errs.append(f"{p}:{ln}: history line is not valid JSON after kill -9: {e}: {line[:120]!r}")
    return n, errs


def check_sqlite(path):
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        return [f"{path}: cannot run PRAGMA integrity_check: {e}"]
    if rows != [("ok",)]:
        return [f"{path}: PRAGMA integrity_check after kill -9: {rows[:10]}"]
    return []


def verify(crest, tr, store, rnd):
    """GET every id; returns (violations, lost) where lost = ids whose last sent value is not stored."""
    errs = []
    lost = 0
    for i in tr.sent:
        if tr.sent[i] is None:
            continue
        try:
            st, body = crest.request("GET", common.dim_path(i))
        except OSError as e:
            errs.append(f"{store} round {rnd}: GET {i}: {e!r}")
            continue
        if st != 200 or not isinstance(body, dict):
            errs.append(f"{store} round {rnd}: GET {i} answered {st} {body!r}, want 200")
            continue
        v = body.get("desiredCapacity")
        a, s, f = tr.acked[i], tr.sent[i], tr.first[i]
        if not isinstance(v, (int, float)):
            errs.append(f"{store} round {rnd}: GET {i}: desiredCapacity {v!r} is not a number: {body}")
            continue
        if a is not None and v < a:
            errs.append(f"{store} round {rnd}: id {i}: desiredCapacity {v} < {a}, a value acknowledged with 200 "
                        f"before kill -9 (acknowledged write lost)")
        elif v > s:
            errs.append(f"{store} round {rnd}: id {i}: desiredCapacity {v} > {s}, the highest value ever sent")
        elif a is None and v != DEFAULT_DESIRED and not (f <= v <= s):
            errs.append(f"{store} round {rnd}: id {i}: desiredCapacity {v} is neither the default nor a value sent")
        elif v != int(v):
            errs.append(f"{store} round {rnd}: id {i}: desiredCapacity {v} is not a value sent (all were integers)")
        if v != s:
            lost += 1
        errs += [f"{store} round {rnd}: history: {e}" for e in common.check_history(crest, i, v)]
        # What a restarted crest served is committed: later rounds must not lose it either.
        if f is not None and v >= f and (a is None or v > a):
            tr.acked[i] = v
    return errs, lost


def run_store(store, rounds, binary, rng, work):
    pg_db = None
    summary = {"store": store, "rounds": 0, "acks": 0, "busy": 0, "max_lost": 0, "failures": []}
    if store == "file":
        d = os.path.join(work, "file-store")
        url = f"file:{d}"
    elif store == "sqlite":
        d = os.path.join(work, "sqlite")
        os.makedirs(d)
        db = os.path.join(d, "crest.db")
        url = f"sqlite:{db}"
    elif store == "postgres":
        ok, why = common.postgres_available()
        if not ok:
            if common.require_services():
                summary["failures"].append(f"postgres unreachable and CREST_REQUIRE_SERVICES=1: {why}")
            else:
                print(f"crash_safety: postgres: SKIP (unreachable: {why}; set CREST_REQUIRE_SERVICES=1 to fail instead)")
                summary["skipped"] = True
            return summary
        pg_db = f"crest_crash_{os.getpid()}_{int(time.time())}"
        r = common.psql(common.PG_ADMIN_DB[0], f'CREATE DATABASE "{pg_db}"')
        if r.returncode != 0:
            summary["failures"].append(f"postgres: CREATE DATABASE {pg_db}: {r.stderr.strip()}")
            return summary
        url = f"postgres://postgres@127.0.0.1:5432/{pg_db}"
    else:
        summary["failures"].append(f"unknown store {store!r}")
        return summary

    ids = [f"crash-{store}-t{t}-{k}" for t in range(THREADS) for k in range(IDS_PER_THREAD)]
    tr = Tracker(ids)
    crest = common.Crest(binary, url, work, name=f"crest-{store}")
    try:
        crest.start()
        for rnd in range(1, rounds + 1):
            stop = threading.Event()
            threads = [threading.Thread(target=load_thread,
                                        args=(crest.port, ids[t * IDS_PER_THREAD:(t + 1) * IDS_PER_THREAD], tr, stop),
                                        daemon=True) for t in range(THREADS)]
            acks_before, busy_before = tr.acks, tr.busy
            t_start = time.time()
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 1.5))
            t_kill = time.time()
            if not crest.alive():
                summary["failures"].append(f"{store} round {rnd}: crest exited on its own ({crest.proc.returncode}) "
                                           f"under load:\n{crest.log_tail()}")
                break
            crest.kill()
            t_dead = time.time()
            stop.set()
            for t in threads:
                t.join(15)
                if t.is_alive():
                    summary["failures"].append(f"{store} round {rnd}: a load thread hung after kill -9")
            summary["rounds"] = rnd
            if tr.acks == acks_before and tr.busy == busy_before:
                summary["failures"].append(f"{store} round {rnd}: no PATCH was acknowledged before kill -9")
            if tr.other:   # any non-200 answer (or a 200 showing another value) before the kill
                utc = lambda t: time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
                summary["failures"].append(
                    f"{store} round {rnd}: {len(tr.other)} PATCH answers were not a 200 with the value sent "
                    f"(load started {utc(t_start)}, kill -9 sent {utc(t_kill)}, crest dead {utc(t_dead)}; "
                    f"crest log {crest.log_path()})")
                for i, v, st, b in tr.other[:10]:
                    summary["failures"].append(f"{store} round {rnd}: PATCH {i} desiredCapacity={v} answered {st}: {b}")
                tr.other.clear()
            if store == "file":
                n, errs = check_file_store(d)
                summary["failures"] += [f"{store} round {rnd}: {e}" for e in errs]
            elif store == "sqlite":
                summary["failures"] += [f"{store} round {rnd}: {e}" for e in check_sqlite(db)]
            try:
                crest.start()
            except RuntimeError as e:
                summary["failures"].append(f"{store} round {rnd}: restart after kill -9 failed: {e}")
                break
            errs, lost = verify(crest, tr, store, rnd)
            summary["failures"] += errs
            summary["max_lost"] = max(summary["max_lost"], lost)
            if summary["failures"]:
                break
        summary["acks"] = tr.acks
        summary["busy"] = tr.busy
    except RuntimeError as e:
        summary["failures"].append(f"{store}: {e}")
    finally:
        crest.stop()
        if pg_db is not None:
            r = common.psql(common.PG_ADMIN_DB[0], f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
            if r.returncode != 0:
                summary["failures"].append(f"postgres: DROP DATABASE {pg_db}: {r.stderr.strip()}")
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stores", default="file,sqlite,postgres")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (store files, crest logs)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    binary = common.crest_bin()
    work = common.workdir("crest-crash-")
    print(f"crash_safety: binary {binary}, stores {args.stores}, {args.rounds} rounds, seed {seed}, work dir {work}")
    failed = False
    t0 = time.monotonic()
    try:
        for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
            ts = time.monotonic()
            s = run_store(store, args.rounds, binary, rng, work)
            if s.get("skipped"):
                continue
            n = len(s["failures"])
            print(f"crash_safety: {store}: rounds={s['rounds']} acked_patches={s['acks']} "
                  f"max_in_flight_lost={s['max_lost']} busy_503={s['busy']} failures={n} ({time.monotonic() - ts:.1f}s)")
            for f in s["failures"]:
                print(f"  FAIL {f}")
            failed |= n > 0
    finally:
        if not args.keep and not failed:
            shutil.rmtree(work, ignore_errors=True)
        elif failed:
            print(f"crash_safety: kept {work} for inspection")
    print(f"crash_safety: {'FAIL' if failed else 'ok'} in {time.monotonic() - t0:.1f}s (seed {seed})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
