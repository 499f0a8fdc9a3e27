"""Shared helpers for the crest crash-safety and disk-full scripts (stdlib only)."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_ADMIN = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
PG_ADMIN_DB = ["test"]   # the database CREATE/DROP DATABASE run in; postgres_available() picks it


def crest_bin():
    b = os.environ.get("CREST_BIN") or os.path.join(REPO, "target", "release", "crest")
    if not os.path.isabs(b):
        b = os.path.join(REPO, b)
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        sys.exit(f"FAIL: crest binary {b!r} not found or not executable (set CREST_BIN or build target/release/crest)")
    return b


def require_services():
    return os.environ.get("CREST_REQUIRE_SERVICES") == "1"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Crest:
    """One crest process on a free port; logs go to a file under workdir."""

    def __init__(self, binary, store_url, workdir, name="crest"):
        self.binary, self.store_url, self.workdir, self.name = binary, store_url, workdir, name
        self.proc = None
        self.port = None
        self.starts = 0

    def log_path(self):
        return os.path.join(self.workdir, f"{self.name}-{self.starts}.log")

    def start(self, timeout=20.0):
        """Starts crest and waits for /readyz 200. Raises RuntimeError (with log tail) if it exits or never gets ready."""
        self.starts += 1
        self.port = free_port()
        log = open(self.log_path(), "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--store", self.store_url,
             "--mode", "production", "--log-level", "warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crest exited with {self.proc.returncode} during startup on {self.store_url}:\n{self.log_tail()}")
            try:
                st, body = self.request("GET", "/readyz", timeout=2)
                if st == 200:
                    return
                last = f"{st} {body!r}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"crest not ready within {timeout}s on {self.store_url} (last /readyz: {last}):\n{self.log_tail()}")

    def log_tail(self, n=30):
        try:
            with open(self.log_path(), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join("    | " + l for l in lines[-n:])
        except OSError:
            return "    | (no log)"

    def request(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw
            return r.status, parsed
        finally:
            conn.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9 (this process only) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def dim_path(i):
    return "/v1/scalableTargetDimensions/" + i


def psql(db, sql):
    return subprocess.run(["psql", *PG_ADMIN, "-d", db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                          capture_output=True, text=True, timeout=30)


def postgres_available():
    """(ok, why) — psql present and 127.0.0.1:5432 answers."""
    if shutil.which("psql") is None:
        return False, "psql not on PATH"
    why = []
    for db in ("test", "postgres"):
        try:
            r = psql(db, "SELECT 1")
        except (OSError, subprocess.TimeoutExpired) as e:
            return False, f"psql failed: {e}"
        if r.returncode == 0:
            PG_ADMIN_DB[0] = db
            return True, ""
        why.append(f"psql -h 127.0.0.1 -U postgres -d {db}: {r.stderr.strip()}")
    return False, "; ".join(why)


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def check_history(crest, i, current, allowed=None):
    """GET the first page of i's history: the newest desiredCapacity change must
    be the current value, each entry's old must be the previous entry's new, and
    (when `allowed` is given) every new value must be in it. Returns error strings."""
    try:
        st, body = crest.request("GET", dim_path(i) + "/history", timeout=15)
    except OSError as e:
        return [f"GET {i}/history: no answer ({e!r})"]
    if st != 200 or not isinstance(body, dict) or not isinstance(body.get("entries"), list):
        return [f"GET {i}/history answered {st} {str(body)[:300]}"]
    changes = []   # (revision, old, new), newest first
    for e in body["entries"]:
        for c in e.get("changes", []):
            if c.get("field") == "desiredCapacity":
                changes.append((e.get("revision"), c.get("old"), c.get("new")))
    errs = []
    if not changes:
        if current != 1.0:
            errs.append(f"{i}: history shows no desiredCapacity change but the dimension has {current}")
        return errs
    if changes[0][2] != current:
        errs.append(f"{i}: newest history entry (revision {changes[0][0]}) sets desiredCapacity {changes[0][2]}, "
                    f"but the dimension has {current}")
    for (r1, old1, _), (r0, _, new0) in zip(changes, changes[1:]):
        if old1 != new0:
            errs.append(f"{i}: history revision {r1} changes desiredCapacity from {old1}, "
                        f"but revision {r0} set it to {new0}")
    if allowed is not None:
        for r, _, new in changes:
            if new not in allowed:
                errs.append(f"{i}: history revision {r} shows desiredCapacity {new}, a value never acknowledged "
                            f"(acknowledged: {sorted(allowed)})")
    return errs
