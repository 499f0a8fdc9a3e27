#!/usr/bin/env python3
"""crest benchmark orchestrator (stdlib only). Run it through bench/run.sh.

Starts nginx (the ceiling) and crest on each store, seeds dimensions with SQL
(file store: through the admin PUT), drives load with wrk and the Lua scripts
in bench/lua/, prints one table and writes target/bench/results.json.
"""

import atexit
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
LUA = os.path.join(BENCH_DIR, "lua")

CREST = os.environ.get("CREST_BIN") or os.path.join(ROOT, "target/release/crest")
if not os.path.isabs(CREST):
    CREST = os.path.join(ROOT, CREST)
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
DURATION = os.environ.get("BENCH_DURATION") or ("3s" if QUICK else "10s")
# CPU pinning (BENCH_PIN, default on with 2+ CPUs): the servers under test
# (crest, nginx) get the first half of the CPUs and wrk the rest, so the load
# generator does not preempt the server it measures. crest's runtime sizes
# itself to the CPUs it may use (tokio reads the affinity mask), nginx gets as
# many workers. PostgreSQL's own processes are not pinned.
NCPU = len(os.sched_getaffinity(0))
PIN = os.environ.get("BENCH_PIN", "1" if NCPU >= 2 else "0") not in ("", "0")
_cpus = sorted(os.sched_getaffinity(0))
SERVER_CPUS = _cpus[: max(1, NCPU // 2)] if PIN else _cpus
LOAD_CPUS = _cpus[max(1, NCPU // 2):] if PIN else _cpus
THREADS = int(os.environ.get("BENCH_THREADS", str(len(LOAD_CPUS) if PIN else 2)))


def pinned(cpus, cmd):
    """`cmd` restricted to `cpus` when pinning is on."""
    if not PIN:
        return list(cmd)
    return ["taskset", "-c", ",".join(map(str, cpus))] + list(cmd)
WRK = os.environ.get("WRK", "wrk")
NGINX = os.environ.get("NGINX", "nginx")
PG_BASE = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_ADMIN_DB = os.environ.get("BENCH_PG_ADMIN_DB", "test")
SEED_IDS = 1000
SCALE_IDS = int(os.environ.get("BENCH_SCALE_IDS", "1000000"))
DEMO_IDS = 10000
# The memory row: this many new 255-byte ids, each created by its first GET.
NEW_IDS = int(os.environ.get("BENCH_NEW_IDS", "200000"))
# BENCH_ONLY=new-ids: run only that row (a quick check of the loader).
# BENCH_ONLY=postgres: only nginx's ceiling rows and the PostgreSQL GET/PATCH
# rows, direct and through PgBouncer (a before/after comparison in minutes).
ONLY = os.environ.get("BENCH_ONLY", "")
# BENCH_ONLY=logs: only the logging rows (crest on SQLite with --log-level
# warn, and with the default logging in text and in JSON).
if ONLY not in ("", "new-ids", "postgres", "logs"):
    raise SystemExit(f"BENCH_ONLY: {ONLY!r} is not a known phase (new-ids, postgres, logs)")
# PgBouncer in front of the same PostgreSQL, started by the run on a free port.
PGBOUNCER = os.environ.get("BENCH_PGBOUNCER", "/usr/sbin/pgbouncer")
PGBOUNCER_POOL = int(os.environ.get("BENCH_PGBOUNCER_POOL_SIZE", "16"))
# pgbouncer refuses to run as root: it is started with -u this user then.
PGBOUNCER_USER = os.environ.get("BENCH_PGBOUNCER_USER", "postgres")
STARTUP_RUNS = 3 if QUICK else 5
CONNS = [16] if QUICK else [16, 64]
OUT_DIR = os.path.join(ROOT, "target", "bench")
KEEP = os.environ.get("BENCH_KEEP", "") not in ("", "0")

WORK = tempfile.mkdtemp(prefix="crest-bench-")
PROCS = []          # every process we start; all stopped at exit
PG_DBS = []         # every database we create; all dropped at exit
NOTES = []          # problems seen during the run, printed after the table


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def note(msg):
    NOTES.append(msg)
    log("NOTE: " + msg)


def seconds(d):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", d.strip())
    if not m:
        raise SystemExit(f"BENCH_DURATION: cannot parse {d!r} (use e.g. 10s, 1m)")
    v = float(m.group(1))
    return v * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


# ---------------------------------------------------------------- processes

def stop(p, timeout=10):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cleanup():
    for p in reversed(PROCS):
        try:
            stop(p, 5)
        except Exception:
            pass
    for db in PG_DBS:
        psql_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', check=False)
    if not KEEP:
        shutil.rmtree(WORK, ignore_errors=True)
    else:
        log(f"kept work dir {WORK}")


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def probe(port, path="/readyz", tls=False, timeout=1.0):
    """Status code of one GET, or None if nothing answers."""
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
    except (OSError, http.client.HTTPException):
        return None


def tail_log(logf, path, n=20):
    """The last n lines of a process's log file (flushed first)."""
    if not logf.closed:
        logf.flush()
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Crest:
    def __init__(self, name, store, mode="production", extra=(), tls=False, log=("--log-level", "warn"),
                 binary=None):
        self.name = name
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        args = [binary or CREST, "serve", "--listen", f"127.0.0.1:{self.port}", "--store", store,
                "--mode", mode] + list(log)
        if tls:
            args += ["--tls-listen", f"127.0.0.1:{self.tls_port}",
                     "--tls-cert", CERT, "--tls-key", KEY]
        args += list(extra)
        self.logpath = os.path.join(WORK, f"crest-{name}.log")
        self.logf = open(self.logpath, "ab")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(pinned(SERVER_CPUS, args), stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        PROCS.append(self.proc)
        try:
            self.ready_ms = self.wait_ready()
        except RuntimeError:
            stop(self.proc)
            self.logf.close()
            raise

    def wait_ready(self, timeout=60):
        port, tls = (self.tls_port, True) if self.tls_port else (self.port, False)
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crest ({self.name}) exited with {self.proc.returncode}:\n"
                                   + self.tail())
            if probe(port, tls=tls, timeout=0.5) == 200:
                return (time.perf_counter() - self.t0) * 1000
            time.sleep(0.002)
        raise RuntimeError(f"crest ({self.name}) not ready after {timeout}s:\n" + self.tail())

    def tail(self, n=20):
        return tail_log(self.logf, self.logpath, n)

    def rss_mb(self):
        kb = rss_kb(self.proc.pid)
        return None if kb is None else round(kb / 1024, 1)

    def url(self, tls=False):
        return (f"https://127.0.0.1:{self.tls_port}" if tls
                else f"http://127.0.0.1:{self.port}")

    def stop(self):
        stop(self.proc)
        if self.logf.closed:
            return
        self.logf.close()
        errs = [l for l in self.tail(200).splitlines() if " ERROR " in l or "panicked" in l]
        if errs:
            note(f"crest ({self.name}) logged errors, e.g.: {errs[0][:300]}")


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r


# ---------------------------------------------------------------- stores

def migrate(store):
    run([CREST, "migrate", "--store", store])


def seed_sqlite(path, n, prefix):
    migrate(f"sqlite:{path}")
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    rows = ((f"{prefix}{i}", 1, "MyVersion", "MyService", "MyDimension", 1.0, 1.0,
             "Successful", None) for i in range(1, n + 1))
    with db:
        db.executemany(
            "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name,"
            " desired_capacity, actual_capacity, scaling_status, failure_reason)"
            " VALUES (?,?,?,?,?,?,?,?,?)", rows)
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    settle(pg=False)


def settle(pg=True):
    """Lets the disk go quiet before the next measurement: what earlier
    phases left to write (PostgreSQL's dirty buffers, which its
    checkpointer would otherwise write out and fsync in the middle of a
    later row; a seed written without syncs) is written now. The DEMO row
    right after the PostgreSQL rows had p99s of 47.6 and 94.8 ms in the
    sixth round, against about 3 ms alone (bench/README.md)."""
    t = time.time()
    if pg and pg_available():
        psql_admin("CHECKPOINT", check=False)
    os.sync()
    log(f"settled the disk in {time.time() - t:.2f}s")


def sqlite_query(path, sql):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchone()
    finally:
        db.close()


def psql_admin(sql, check=True):
    return run(["psql", f"{PG_BASE}/{PG_ADMIN_DB}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
               check=check)


def psql(db, sql):
    return run(["psql", f"{PG_BASE}/{db}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql]).stdout.strip()


def pg_available():
    try:
        return psql_admin("SELECT 1", check=False).returncode == 0
    except FileNotFoundError:
        return False


def seed_pg(n, prefix, tag):
    db = f"crest_bench_{tag}_{os.getpid()}"
    psql_admin(f'DROP DATABASE IF EXISTS "{db}"')
    psql_admin(f'CREATE DATABASE "{db}"')
    PG_DBS.append(db)
    url = f"{PG_BASE}/{db}"
    migrate(url)
    psql(db, "INSERT INTO dimensions (id, revision, version, resource_name, dimension_name,"
             " desired_capacity, actual_capacity, scaling_status)"
             f" SELECT '{prefix}' || g, 1, 'MyVersion', 'MyService', 'MyDimension', 1.0, 1.0,"
             f" 'Successful' FROM generate_series(1, {n}) g")
    psql(db, "VACUUM ANALYZE dimensions")
    return db, url


class PgBouncer:
    """PgBouncer (Debian's 1.18) in front of BENCH_PG's server, transaction
    pooling, on a free port on 127.0.0.1, with its config in the work dir.
    pgbouncer refuses to run as root: as root it runs with -u
    BENCH_PGBOUNCER_USER, and its dir and files belong to that user."""

    def __init__(self):
        u = urllib.parse.urlsplit(PG_BASE)
        self.user = urllib.parse.unquote(u.username or "postgres")
        password = urllib.parse.unquote(u.password or "")
        self.port = free_port()
        d = os.path.join(WORK, "pgbouncer")
        os.makedirs(d)
        self.ini = os.path.join(d, "pgbouncer.ini")
        users = os.path.join(d, "userlist.txt")
        # auth_type = trust still wants the user in auth_file; its password
        # (if BENCH_PG has one) is what pgbouncer logs in to the server with.
        with open(users, "w") as f:
            f.write(f'"{self.user}" "{password}"\n')
        os.chmod(users, 0o600)
        with open(self.ini, "w") as f:
            f.write(f"""[databases]
* = host={u.hostname or "127.0.0.1"} port={u.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
default_pool_size = {PGBOUNCER_POOL}
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
""")
        cmd = [PGBOUNCER]
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PGBOUNCER_USER)
            os.chmod(WORK, 0o711)   # others may pass through, not list it
            for path in (d, self.ini, users):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            # the check pgbouncer would otherwise fail on after dropping root
            r = subprocess.run(["test", "-r", self.ini, "-a", "-r", users], user=pw.pw_uid,
                               group=pw.pw_gid, extra_groups=[])
            if r.returncode != 0:
                raise RuntimeError(f"pgbouncer: {self.ini} is not readable by {PGBOUNCER_USER}")
            cmd += ["-u", PGBOUNCER_USER]
        cmd.append(self.ini)
        self.logpath = os.path.join(WORK, "pgbouncer.log")
        self.logf = open(self.logpath, "ab")
        # not pinned, like PostgreSQL: it is part of the database side
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        PROCS.append(self.proc)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self.proc.returncode}:\n{self.tail()}")
            if run(["psql", self.url(PG_ADMIN_DB), "-qAtc", "SELECT 1"], check=False).returncode == 0:
                log(f"pgbouncer on 127.0.0.1:{self.port} (pool_mode transaction, "
                    f"default_pool_size {PGBOUNCER_POOL})")
                return
            time.sleep(0.1)
        raise RuntimeError(f"pgbouncer not answering on port {self.port}:\n{self.tail()}")

    def url(self, db):
        return f"postgres://{urllib.parse.quote(self.user)}@127.0.0.1:{self.port}/{db}"

    def tail(self, n=20):
        return tail_log(self.logf, self.logpath, n)

    def stop(self):
        stop(self.proc)   # SIGTERM: fast exit
        self.logf.close()
        try:
            with open(self.logpath, errors="replace") as f:
                errs = [l.strip() for l in f if re.search(r" (ERROR|FATAL|WARNING) ", l)]
        except OSError:
            errs = []
        if errs:
            note(f"pgbouncer logged {len(errs)} warnings/errors, e.g.: {errs[0][:300]}")


def seed_file_via_http(crest, n, prefix):
    """The file store has no SQL: register the ids with the admin PUT."""
    c = http.client.HTTPConnection("127.0.0.1", crest.port, timeout=10)
    body = json.dumps({"desiredCapacity": 1.0, "actualCapacity": 1.0})
    for i in range(1, n + 1):
        c.request("PUT", f"/v1/scalableTargetDimensions/{prefix}{i}", body,
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status not in (200, 201):
            raise RuntimeError(f"seeding PUT {prefix}{i}: {r.status} {data[:200]!r}")
    c.close()


def check_api(crest, prefix="bench-", tls=False):
    """One GET and read back; fail early if the API does not answer 200."""
    st = probe(crest.tls_port if tls else crest.port,
               f"/v1/scalableTargetDimensions/{prefix}1", tls=tls, timeout=5)
    if st != 200:
        raise RuntimeError(f"crest ({crest.name}): GET {prefix}1 answered {st}\n{crest.tail()}")


# ---------------------------------------------------------------- nginx

NGINX_BODY = ('{"scalableTargetDimensionId":"bench-1","version":"MyVersion",'
              '"resourceName":"MyService","dimensionName":"MyDimension",'
              '"desiredCapacity":1.0,"actualCapacity":1.0,"scalingStatus":"Successful"}')


class Nginx:
    def __init__(self):
        d = os.path.join(WORK, "nginx")
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port()
        conf = f"""
daemon off;
master_process on;
worker_processes {len(SERVER_CPUS)};
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    types {{ }}
    default_type application/json;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{ return 200 '{NGINX_BODY}'; }}
    }}
    server {{
        listen 127.0.0.1:{self.tls_port} ssl;
        ssl_certificate {CERT};
        ssl_certificate_key {KEY};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ return 200 '{NGINX_BODY}'; }}
    }}
}}
"""
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.logf = open(os.path.join(d, "logs", "stderr.log"), "ab")
        self.proc = subprocess.Popen(pinned(SERVER_CPUS, [NGINX, "-c", self.conf, "-p", d]), stdout=self.logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        PROCS.append(self.proc)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: see {d}/logs")
            if probe(self.port, "/") == 200 and probe(self.tls_port, "/", tls=True) == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("nginx not ready")

    def url(self, tls=False):
        return f"https://127.0.0.1:{self.tls_port}" if tls else f"http://127.0.0.1:{self.port}"

    def stop(self):
        stop(self.proc)   # SIGTERM to the master: fast shutdown, workers exit too
        self.logf.close()


def make_cert():
    global CERT, KEY
    CERT = os.path.join(WORK, "cert.pem")
    KEY = os.path.join(WORK, "key.pem")
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", KEY])
    run(["openssl", "req", "-new", "-x509", "-key", KEY, "-out", CERT, "-days", "2",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])


# ---------------------------------------------------------------- wrk

# Read-only measurements (get.lua) run this many times; the run with the
# median req/s is reported (its p50/p99), all runs go to the JSON.
REPEAT = int(os.environ.get("BENCH_REPEAT", "1" if QUICK else "3"))


def wrk(url, script, conns, env=None, headers=()):
    if script != "get.lua" or REPEAT <= 1:
        return wrk_once(url, script, conns, env, headers)
    return median_run([wrk_once(url, script, conns, env, headers) for _ in range(REPEAT)])


def wrk_once(url, script, conns, env=None, headers=()):
    e = dict(os.environ)
    e.update({"BENCH_THREADS": str(THREADS)})
    e.update(env or {})
    cmd = pinned(LOAD_CPUS, [WRK, "-t", str(THREADS), "-c", str(conns), "-d", DURATION, "--latency",
                             "--timeout", "5s", "-s", os.path.join(LUA, script)])
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=e,
                           timeout=seconds(DURATION) + 60)
    except subprocess.TimeoutExpired:
        note(f"wrk timed out: {' '.join(cmd)}")
        return None
    for line in r.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            d = json.loads(line[len("BENCHJSON "):])
            d["rps"] = d["requests"] / (d["duration_us"] / 1e6) if d["duration_us"] else 0.0
            d["errors"] = sum(d[k] for k in ("err_connect", "err_read", "err_write",
                                             "err_status", "err_timeout"))
            return d
    note(f"wrk gave no result ({r.returncode}): {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return None


# ---------------------------------------------------------------- results

ROWS = []


def row(group, name, conns, res, ceiling=None, **extra):
    r = {"group": group, "name": name, "conns": conns}
    if res:
        r.update({"rps": round(res["rps"], 1), "p50_ms": res["p50_us"] / 1000,
                  "p99_ms": res["p99_us"] / 1000, "max_ms": res["max_us"] / 1000,
                  "requests": res["requests"], "errors": res["errors"],
                  "err_status": res["err_status"]})
        if res.get("runs"):
            r["runs"] = res["runs"]
        if ceiling:
            r["vs_nginx"] = round(res["rps"] / ceiling["rps"], 3) if ceiling["rps"] else None
        if res["errors"]:
            note(f"{group} {name} c={conns}: {res['errors']} wrk errors "
                 f"(status {res['err_status']}, connect {res['err_connect']}, "
                 f"read {res['err_read']}, write {res['err_write']}, "
                 f"timeout {res['err_timeout']})")
    else:
        r["failed"] = True
    r.update(extra)
    ROWS.append(r)
    log(f"{group:<8} {name:<28} c={conns:<3} "
        + (f"{r['rps']:>10.0f} req/s p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms"
           if res else "FAILED"))
    return r


def median_run(runs):
    """The run with the median req/s, with every run's req/s and p99 in `runs`."""
    runs = sorted((r for r in runs if r), key=lambda r: r["rps"])
    if not runs:
        return None
    median = dict(runs[len(runs) // 2])
    median["runs"] = [{"rps": round(r["rps"]), "p99_us": r["p99_us"]} for r in runs]
    return median


def in_turns(sides, n):
    """GETs (get.lua) at `n` connections on each of `sides` ((url, env)
    pairs) in REPEAT rounds of one wrk run each, the order alternating, so
    a drift of the machine's speed hits every side alike; each side's
    median run (`median_run`)."""
    runs = [[] for _ in sides]
    order = list(range(len(sides)))
    for i in range(max(1, REPEAT)):
        for k in (order if i % 2 == 0 else order[::-1]):
            url, env = sides[k]
            runs[k].append(wrk_once(url, "get.lua", n, env))
    return [median_run(r) for r in runs]


class Ceiling:
    """nginx, the ceiling: its own rows at each connection count, measured
    first, and again in turns with each crest GET row (`get_row`), so a
    drift of the machine's speed over the minutes between the two (seen
    here: the same crest 15-20 % apart two minutes later, bench/README.md
    "Ninth round") hits both sides of a row's share alike."""

    def __init__(self, ngx):
        self.ngx = ngx
        self.rows = {n: row("GET", "nginx (ceiling)", n, wrk(ngx.url(), "get.lua", n)) for n in CONNS}

    def get(self, n):
        return self.rows.get(n)

    def get_row(self, name, n, url, env=None):
        """The GET row of `name` at `n` connections: REPEAT rounds, each one
        wrk run of nginx and one of `url` (the order alternating); the row
        is the median round of `url`, its share of nginx the ratio of the
        two medians (`nginx_rps`, `nginx_runs`). `vs_ceiling`: the share of
        the nginx row measured first."""
        ngx, res = in_turns([(self.ngx.url(), None), (url, env)], n)
        first = self.get(n)
        extra = {}
        if ngx:
            extra = {"nginx_rps": round(ngx["rps"], 1), "nginx_runs": ngx["runs"]}
        if res and first and first.get("rps"):
            extra["vs_ceiling"] = round(res["rps"] / first["rps"], 3)
        return row("GET", name, n, res, ngx, **extra)


def find(group, name, conns=16):
    for r in ROWS:
        if r["group"] == group and r["name"] == name and r["conns"] == conns:
            return r
    return None


def scale_pair(store):
    """The cached GET a SCALE row of `store` is compared with, and the row:
    the cached turns measured with it when there are (`cached_rps`,
    `cached_p99_ms`), else the store's `GET` row at c=16."""
    large = find("SCALE", f"{store} 1M dimensions")
    if large and "cached_rps" in large:
        return {"rps": large["cached_rps"], "p99_ms": large["cached_p99_ms"]}, large
    return find("GET", store), large


def load_default():
    return open("/proc/loadavg").read().split()[:3]


# ---------------------------------------------------------------- phases

RSS = {}       # name -> {"idle_mb":…, "after_mb":…}
STARTUP = {}   # name -> {"runs_ms": […], "median_ms": …}


def failed_rows(name, short, why):
    """The GET and PATCH rows of a store phase whose crest could not be
    measured: marked failed with a short reason, the whole story in the notes."""
    note(f"{name}: {short}: {why.strip()}")
    for n in CONNS:
        row("GET", name, n, None, failure=short)
    row("PATCH", name, 16, None, failure=short)


def store_phase(name, store, ceil, seed_before=None, seed_after=None, check_get=None,
                check_patch=None, soft=False):
    """GET at each connection count, then durable PATCH at 16, on one crest.
    `soft`: a crest that does not start or does not answer the first GET
    gives failed rows and a note instead of ending the run."""
    if seed_before:
        seed_before()
    try:
        c = Crest(name, store)
    except RuntimeError as e:
        if not soft:
            raise
        return failed_rows(name, "crest did not start", str(e))
    if seed_after:
        seed_after(c)
        # measure idle RSS on a fresh process, as for the other stores
        c.stop()
        c = Crest(name, store)
    try:
        check_api(c)
    except RuntimeError as e:
        if not soft:
            raise
        c.stop()
        return failed_rows(name, "crest answers errors", str(e))
    time.sleep(0.5)
    RSS[name] = {"idle_mb": c.rss_mb()}
    for n in CONNS:
        ceil.get_row(name, n, c.url(), {"BENCH_IDS": str(SEED_IDS)})
    if check_get:
        check_get()
    res = wrk(c.url(), "patch.lua", 16, {"BENCH_IDS": str(SEED_IDS)})
    row("PATCH", name, 16, res)
    if check_patch and res:
        check_patch(res)
    RSS[name]["after_mb"] = c.rss_mb()
    c.stop()


# ---------------------------------------------------------------- logging

# The logging configurations compared: crest as bench rows run it (warn) and
# as users run it (the default: INFO, access log on), in text and JSON.
LOG_CONFIGS = [("log warn", ("--log-level", "warn")), ("log default text", ()),
               ("log default json", ("--log-format", "json"))]
# BENCH_BEFORE_BIN: another crest binary (an older build) measured in the
# same turns with the default logging, for a before/after in one run.
BEFORE_BIN = os.environ.get("BENCH_BEFORE_BIN", "")


def logs_phase():
    """Cached GETs on SQLite (1,000 seeded dimensions), c=16, one crest per
    logging configuration, measured in turns (REPEAT rounds, so drift hits
    them all alike). Each row: the median req/s, and the log's growth per GET
    (stderr goes to a file in the bench's temp dir)."""
    base = os.path.join(WORK, "sqlite-logs", "seed.db")
    os.makedirs(os.path.dirname(base))
    seed_sqlite(base, SEED_IDS, "bench-")
    crests = {}
    configs = [(name, log_args, None) for name, log_args in LOG_CONFIGS]
    if BEFORE_BIN:
        configs += [("before " + name, log_args, BEFORE_BIN) for name, log_args in LOG_CONFIGS]
    for name, log_args, binary in configs:
        db = os.path.join(WORK, "sqlite-logs", name.replace(" ", "-") + ".db")
        shutil.copyfile(base, db)
        crests[name] = Crest(name.replace(" ", "-"), f"sqlite:{db}", log=log_args, binary=binary)
        check_api(crests[name])
    runs = {name: [] for name in crests}
    grown = {name: [0, 0] for name in crests}  # bytes, requests
    for _ in range(max(1, REPEAT)):
        for name, c in crests.items():
            before = os.path.getsize(c.logpath)
            res = wrk_once(c.url(), "get.lua", 16, {"BENCH_IDS": str(SEED_IDS)})
            time.sleep(1.2)  # the last second's summary line
            if res:
                runs[name].append(res)
                grown[name][0] += os.path.getsize(c.logpath) - before
                grown[name][1] += res["requests"]
    for name, c in crests.items():
        rs = sorted(runs[name], key=lambda r: r["rps"])
        res = dict(rs[len(rs) // 2]) if rs else None
        if res:
            res["runs"] = [{"rps": round(r["rps"]), "p99_us": r["p99_us"]} for r in rs]
        b, n = grown[name]
        row("LOG", name, 16, res, log_bytes_per_get=round(b / n, 1) if n else None, log_bytes=b)
        if n:
            log(f"{name}: {b:,} bytes of log for {n:,} GETs ({b / n:.1f} B/GET)")
        c.stop()


def log_targets(add):
    """Issue 21: the default logging costs little and cannot fill the disk."""
    warn = find("LOG", "log warn")
    for name in ("log default text", "log default json"):
        r = find("LOG", name)
        what = f"GET sqlite c=16, {name[4:]}: >= 90% of --log-level warn req/s, <= 200 B of log per GET"
        if r and warn and not r.get("failed") and not warn.get("failed") and warn["rps"]:
            share = r["rps"] / warn["rps"]
            add(what, f"{share * 100:.0f}% of warn ({r['rps']:.0f} / {warn['rps']:.0f}), "
                f"{r['log_bytes_per_get']} B/GET",
                share >= 0.9 and r["log_bytes_per_get"] <= 200 and not r["errors"])
        else:
            add(what, "no result", False)


# ---------------------------------------------------------------- new ids

def new_id(i):
    """The i-th new id: 255 bytes, the longest id crest accepts."""
    return "new-" + str(i).zfill(251)


def create_ids(port, first, end, conns=16):
    """GETs ids first..end-1 (each unknown, so each creates a dimension: a
    durable write) over `conns` keep-alive connections, from threads on the
    load CPUs. Returns a result shaped like wrk's (rps, latencies, errors)."""
    import threading
    lat, bad = [], [0]
    lock = threading.Lock()

    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, errs = [], 0
        for i in range(first + k, end, conns):
            t = time.perf_counter()
            try:
                c.request("GET", "/v1/scalableTargetDimensions/" + new_id(i))
                r = c.getresponse()
                r.read()
                errs += r.status != 200
            except (OSError, http.client.HTTPException):
                errs += 1
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append((time.perf_counter() - t) * 1e6)
        c.close()
        with lock:
            lat.extend(mine)
            bad[0] += errs

    own = os.sched_getaffinity(0)
    if PIN:
        os.sched_setaffinity(0, LOAD_CPUS)   # threads started below inherit it
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    os.sched_setaffinity(0, own)
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
    return {"rps": len(lat) / elapsed if elapsed else 0.0, "p50_us": pick(0.5), "p99_us": pick(0.99),
            "max_us": lat[-1] if lat else 0, "requests": len(lat), "errors": bad[0], "err_status": bad[0],
            "err_connect": 0, "err_read": 0, "err_write": 0, "err_timeout": 0, "duration_us": elapsed * 1e6}


def new_ids_phase():
    """RSS of crest (SQLite) before, half-way through and after NEW_IDS new
    255-byte ids, each created by a GET, with max_dimensions = NEW_IDS; then
    one more new id must be refused (409)."""
    path = os.path.join(WORK, "sqlite-new-ids", "crest.db")
    os.makedirs(os.path.dirname(path))
    c = Crest("sqlite-new-ids", f"sqlite:{path}", extra=["--max-dimensions", str(NEW_IDS)])
    time.sleep(0.5)
    idle = c.rss_mb()
    half = NEW_IDS // 2
    t = time.time()
    first = create_ids(c.port, 0, half)
    time.sleep(0.5)
    mid = c.rss_mb()
    second = create_ids(c.port, half, NEW_IDS)
    time.sleep(0.5)
    after = c.rss_mb()
    log(f"new ids: {NEW_IDS} created in {time.time() - t:.1f}s; RSS {idle} -> {mid} -> {after} MB")
    over = probe(c.port, "/v1/scalableTargetDimensions/" + new_id(NEW_IDS), timeout=10)
    if over != 409:
        note(f"new ids: the id after max_dimensions = {NEW_IDS} answered {over}, not 409")
    stored = sqlite_query(path, "SELECT count(*) FROM dimensions")[0]
    if stored != NEW_IDS:
        note(f"new ids: {stored} dimensions stored for {NEW_IDS} new ids")
    c.stop()
    both = dict(second)
    both["requests"] = first["requests"] + second["requests"]
    both["errors"] = both["err_status"] = first["errors"] + second["errors"]
    both["rps"] = both["requests"] / ((first["duration_us"] + second["duration_us"]) / 1e6)
    both["p50_us"] = max(first["p50_us"], second["p50_us"])
    both["p99_us"] = max(first["p99_us"], second["p99_us"])
    per_id = lambda a, b, n: round((b - a) * 1024 * 1024 / n) if None not in (a, b) and n else None
    row("RSS", f"sqlite {NEW_IDS:,} new ids", 16, both, rss_idle_mb=idle, rss_half_mb=mid,
        rss_after_mb=after, bytes_per_id=per_id(idle, after, NEW_IDS),
        second_half_bytes_per_id=per_id(mid, after, NEW_IDS - half), over_limit_status=over)
    RSS["sqlite-new-ids"] = {"idle_mb": idle, "after_mb": after}


def pg_checks(name, db):
    """The correctness checks of a PostgreSQL phase, on database `db`
    (read directly, not through PgBouncer)."""
    def get_check():
        mx = psql(db, "SELECT max(revision) FROM dimensions")
        if mx != "1":
            note(f"{name}: GET load in production mode changed stored rows (max revision {mx})")

    def patch_check(res):
        writes = int(psql(db, "SELECT coalesce(sum(revision - 1), 0) FROM dimensions"))
        ok = res["requests"] - res["err_status"]
        if writes < ok * 0.99:
            note(f"{name}: {ok} PATCH answers but only {writes} stored revisions")
        log(f"{name} PATCH: {writes} stored revisions for {ok} answered requests")

    return get_check, patch_check


def postgres_phases(ceil):
    """GET/PATCH on PostgreSQL directly, then through PgBouncer (transaction
    pooling), each on its own freshly seeded database. Returns whether
    PostgreSQL is there, and the direct URL of the first database."""
    if not pg_available():
        note(f"PostgreSQL not reachable at {PG_BASE}/{PG_ADMIN_DB}: postgres rows skipped")
        return False, None
    pg_db, pg_url = seed_pg(SEED_IDS, "bench-", "1k")
    get_check, patch_check = pg_checks("postgres", pg_db)
    store_phase("postgres", pg_url, ceil, check_get=get_check, check_patch=patch_check, soft=True)

    name = "postgres pgbouncer"
    if not (shutil.which(PGBOUNCER) or os.access(PGBOUNCER, os.X_OK)):
        failed_rows(name, "no pgbouncer", f"{PGBOUNCER} not found (BENCH_PGBOUNCER)")
        return True, pg_url
    # its own database: the checks count the revisions this phase wrote.
    # Migrated and seeded directly; only `crest serve` goes through PgBouncer.
    bdb, _ = seed_pg(SEED_IDS, "bench-", "pgb")
    try:
        bouncer = PgBouncer()
    except (RuntimeError, OSError, KeyError) as e:
        failed_rows(name, "pgbouncer did not start", str(e))
        return True, pg_url
    get_check, patch_check = pg_checks(name, bdb)
    store_phase(name, bouncer.url(bdb), ceil, check_get=get_check, check_patch=patch_check,
                soft=True)
    bouncer.stop()
    return True, pg_url


def disk_phase(seconds_=2.0):
    """The disk's own rate of durable writes, as the stores' PATCH rows meet
    it: a 4 KiB write and fsync of one file in the bench's work directory,
    in a loop, one at a time (the ceiling for one writer that syncs every
    change alone; group commit is how the stores go past it)."""
    path = os.path.join(WORK, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    block = b"\0" * 4096
    lat = []
    try:
        end = time.perf_counter() + seconds_
        while time.perf_counter() < end:
            t = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fsync(fd)
            lat.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    us = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6
    res = {"rps": len(lat) / sum(lat), "p50_us": us(0.5), "p99_us": us(0.99), "max_us": lat[-1] * 1e6,
           "requests": len(lat), "errors": 0, "err_status": 0}
    row("DISK", "fsync 4 KiB (one writer)", 1, res)


def floor_phase(ceil):
    """GET on a bare hyper server (examples/floor.rs: the same body, no
    routing, middleware or store), pinned like crest: how close to nginx
    any server on crest's HTTP stack gets on this machine."""
    floor = os.environ.get("FLOOR_BIN", "")
    if not floor or floor == "none" or not os.access(floor, os.X_OK):
        return
    port = free_port()
    logf = open(os.path.join(WORK, "floor.log"), "ab")
    proc = subprocess.Popen(pinned(SERVER_CPUS, [floor, f"127.0.0.1:{port}"]), stdout=logf,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    PROCS.append(proc)
    try:
        deadline = time.time() + 10
        while probe(port, "/") != 200:
            if proc.poll() is not None or time.time() > deadline:
                note("the hyper floor server did not start; see floor.log")
                return
            time.sleep(0.02)
        for n in CONNS:
            ceil.get_row("hyper floor (no crest)", n, f"http://127.0.0.1:{port}")
    finally:
        stop(proc)
        logf.close()


def sqlite_floor_phase(path):
    """SQLite's point read of a dimension alone (examples/sqlite_floor.rs:
    crest's statement and columns, read the way crest reads them, no HTTP,
    no caches), one thread pinned like crest, random ids over the same
    1,000,000-dimension file: what a GET of a dimension not in crest's
    caches costs on top of a cached GET, at the least."""
    floor = os.environ.get("SQLITE_FLOOR_BIN", "")
    if not floor or floor == "none" or not os.access(floor, os.X_OK):
        return
    out = run(pinned(SERVER_CPUS, [floor, path, str(SCALE_IDS), str(seconds(DURATION))]), check=False)
    if out.returncode != 0:
        note(f"the SQLite floor failed: {out.stderr.strip()[-300:]}")
        row("SCALE", "sqlite read alone (floor)", 1, None)
        return
    res = json.loads(out.stdout)
    res.update({"requests": res["reads"], "errors": 0, "err_status": 0})
    row("SCALE", "sqlite read alone (floor)", 1, res, us_per_read=res["us_per_read"])


def main():
    if not os.access(CREST, os.X_OK):
        raise SystemExit(f"no crest binary at {CREST}")
    for tool in (WRK, NGINX, "openssl"):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            raise SystemExit(f"{tool} not found")
    t_start = time.time()
    load_start = load_default()
    log(f"crest={CREST} duration={DURATION} quick={QUICK} threads={THREADS} work={WORK}")
    if ONLY == "new-ids":
        new_ids_phase()
        report(t_start, load_start)
        return
    if ONLY == "logs":
        logs_phase()
        report(t_start, load_start)
        return
    make_cert()
    disk_phase()

    # --- ceiling
    ngx = Nginx()
    ceil = Ceiling(ngx)
    floor_phase(ceil)
    if ONLY == "postgres":
        postgres_phases(ceil)
        ngx.stop()
        report(t_start, load_start)
        return

    # --- GET / PATCH per store (1,000 seeded dimensions)
    fdir = os.path.join(WORK, "file-store")
    store_phase("file", f"file:{fdir}", ceil,
                seed_after=lambda c: seed_file_via_http(c, SEED_IDS, "bench-"))

    sq = os.path.join(WORK, "sqlite-1k", "crest.db")
    os.makedirs(os.path.dirname(sq))

    def sqlite_get_check():
        mx = sqlite_query(sq, "SELECT max(revision) FROM dimensions")[0]
        if mx != 1:
            note(f"sqlite: GET load in production mode changed stored rows (max revision {mx})")

    def sqlite_patch_check(res):
        writes = sqlite_query(sq, "SELECT sum(revision - 1) FROM dimensions")[0] or 0
        ok = res["requests"] - res["err_status"]
        if writes < ok * 0.99:
            note(f"sqlite: {ok} PATCH answers but only {writes} stored revisions")
        log(f"sqlite PATCH: {writes} stored revisions for {ok} answered requests")

    store_phase("sqlite", f"sqlite:{sq}", ceil,
                seed_before=lambda: seed_sqlite(sq, SEED_IDS, "bench-"),
                check_get=sqlite_get_check, check_patch=sqlite_patch_check)

    logs_phase()

    have_pg, pg_url = postgres_phases(ceil)
    settle()

    # --- demo-mode walkthrough (PATCH, GET, GET) over 10,000 dimensions, SQLite
    dq = os.path.join(WORK, "sqlite-demo", "crest.db")
    os.makedirs(os.path.dirname(dq))
    seed_sqlite(dq, DEMO_IDS, "demo-")
    c = Crest("demo-sqlite", f"sqlite:{dq}", mode="demo")
    res = wrk(c.url(), "demo.lua", 16, {"BENCH_IDS": str(DEMO_IDS), "BENCH_PREFIX": "demo-"})
    r = row("DEMO", "sqlite walkthrough", 16, res)
    if res:
        r["walkthroughs_per_s"] = round(res["rps"] / 3, 1)
        st = sqlite_query(dq, "SELECT sum(revision > 1),"
                              " sum(revision > 1 AND scaling_status = 'Successful')"
                              " FROM dimensions")
        log(f"demo: {st[0]} dimensions walked through, {st[1]} of them Successful at the end")
        r["touched"], r["touched_successful"] = st[0], st[1]
        # the batch each thread was in when wrk stopped (64 ids) may be unfinished
        if st[0] and st[0] - st[1] > THREADS * 64:
            note(f"demo: only {st[1]} of {st[0]} walked-through dimensions ended Successful")
    RSS["demo-sqlite"] = {"after_mb": c.rss_mb()}
    c.stop()

    # --- HTTPS, keep-alive and a handshake per request (ECDSA P-256)
    c = Crest("https-sqlite", f"sqlite:{sq}", tls=True)
    check_api(c, tls=True)
    ngx_ka = row("HTTPS", "nginx keep-alive", 16, wrk(ngx.url(True), "get.lua", 16))
    row("HTTPS", "crest sqlite keep-alive", 16,
        wrk(c.url(True), "get.lua", 16, {"BENCH_IDS": str(SEED_IDS)}), ngx_ka)
    ngx_cl = row("HTTPS", "nginx new handshake", 16,
                 wrk(ngx.url(True), "get.lua", 16, headers=["Connection: close"]))
    row("HTTPS", "crest sqlite new handshake", 16,
        wrk(c.url(True), "get.lua", 16, {"BENCH_IDS": str(SEED_IDS)},
            headers=["Connection: close"]), ngx_cl)
    RSS["https-sqlite"] = {"after_mb": c.rss_mb()}
    c.stop()
    ngx.stop()

    # --- scale: 1,000,000 dimensions, ids spread over all of them
    big = os.path.join(WORK, "sqlite-1m", "crest.db")
    os.makedirs(os.path.dirname(big))
    t = time.time()
    seed_sqlite(big, SCALE_IDS, "bench-")
    log(f"seeded {SCALE_IDS} SQLite rows in {time.time() - t:.1f}s")
    c = Crest("sqlite-1m", f"sqlite:{big}")
    check_api(c)
    # In turns with a cached GET (a crest on the SQLite phase's 1,000
    # dimensions), the rate the goal divides by: the `GET sqlite` row,
    # minutes earlier, moved the ratio from 52 % to 67 % on a machine whose
    # speed drifts (bench/README.md, "Eleventh round").
    cached = Crest("sqlite-1k", f"sqlite:{sq}")
    check_api(cached)
    small, large = in_turns([(cached.url(), {"BENCH_IDS": str(SEED_IDS)}),
                             (c.url(), {"BENCH_IDS": str(SCALE_IDS)})], 16)
    cached.stop()
    extra = {"cached_rps": round(small["rps"], 1), "cached_p99_ms": small["p99_us"] / 1000,
             "cached_runs": small["runs"]} if small else {}
    row("SCALE", "sqlite 1M dimensions", 16, large, **extra)
    RSS["sqlite-1m"] = {"after_mb": c.rss_mb()}
    c.stop()
    sqlite_floor_phase(big)
    if have_pg:
        t = time.time()
        _, big_pg = seed_pg(SCALE_IDS, "bench-", "1m")
        log(f"seeded {SCALE_IDS} PostgreSQL rows in {time.time() - t:.1f}s")
        c = Crest("postgres-1m", big_pg)
        check_api(c)
        row("SCALE", "postgres 1M dimensions", 16,
            wrk(c.url(), "get.lua", 16, {"BENCH_IDS": str(SCALE_IDS)}))
        RSS["postgres-1m"] = {"after_mb": c.rss_mb()}
        c.stop()

    # --- memory: RSS after NEW_IDS new ids, each created by a GET
    new_ids_phase()

    # --- start-up time: exec to the first 200 from /readyz
    starts = [("sqlite", f"sqlite:{sq}"), ("file", f"file:{fdir}")]
    if have_pg:
        starts.append(("postgres", pg_url))
    starts.append(("sqlite 1M", f"sqlite:{big}"))
    for name, store in starts:
        runs = []
        for _ in range(STARTUP_RUNS):
            c = Crest("startup-" + name.replace(" ", "-"), store)
            runs.append(round(c.ready_ms, 1))
            c.stop()
            time.sleep(0.2)
        STARTUP[name] = {"runs_ms": runs, "median_ms": statistics.median(runs)}
        log(f"start-up {name}: {runs} ms")

    report(t_start, load_start)


# ---------------------------------------------------------------- report

def verdict(ok):
    return "met" if ok else "MISSED"


def targets():
    T = []

    def add(what, value, ok):
        T.append({"target": what, "value": value, "met": ok})

    def no_result(r):
        return "FAILED: " + r.get("failure", "no result") if r else "no result"

    def postgres_targets():
        # issue 16's goals, for PostgreSQL directly and through PgBouncer
        for s in ("postgres", "postgres pgbouncer"):
            r = find("GET", s)
            what = f"GET {s} c=16: >= 25% of nginx req/s"
            if r and not r.get("failed") and r.get("vs_nginx") is not None:
                add(what, f"{r['vs_nginx'] * 100:.0f}% of nginx"
                    + (f", {r['errors']:,} errors" if r["errors"] else ""),
                    r["vs_nginx"] >= 0.25 and not r["errors"])
            else:
                add(what, no_result(r), False)
            r = find("PATCH", s)
            what = f"durable PATCH {s} c=16: >= 4,000/s and p99 <= 20 ms"
            if r and not r.get("failed"):
                add(what, f"{r['rps']:.0f}/s, p99 {r['p99_ms']:.2f} ms"
                    + (f", {r['errors']:,} errors" if r["errors"] else ""),
                    r["rps"] >= 4000 and r["p99_ms"] <= 20 and not r["errors"])
            else:
                add(what, no_result(r), False)

    def rss_target():
        after = {k: v.get("after_mb") for k, v in RSS.items() if v.get("after_mb") is not None}
        if after:
            worst = max(after, key=after.get)
            add("RSS after the runs <= 30 MB (largest crest process)",
                f"{after[worst]:.1f} MB ({worst})", after[worst] <= 30)

    if ONLY == "postgres":
        postgres_targets()
        rss_target()
        return T
    if ONLY == "logs":
        log_targets(add)
        return T
    r = find("RSS", f"sqlite {NEW_IDS:,} new ids")
    if r and not r.get("failed") and r.get("rss_after_mb") is not None:
        add(f"RSS after {NEW_IDS:,} new ids <= 30 MB, and the next new id refused (409)",
            f"{r['rss_idle_mb']:.1f} -> {r['rss_after_mb']:.1f} MB, {r['bytes_per_id']} B/id, "
            f"id {NEW_IDS + 1:,}: {r['over_limit_status']}",
            r["rss_after_mb"] <= 30 and r["over_limit_status"] == 409 and not r["errors"])
    else:
        add(f"RSS after {NEW_IDS:,} new ids <= 30 MB", "no result", False)
    if ONLY:
        return T
    # issue 20's goals
    for s in ("file", "sqlite"):
        for conns, share, p99 in ((16, 0.80, 2.0), (64, 0.65, None)):
            what = f"GET {s} c={conns}: >= {share * 100:.0f}% of nginx req/s" + (f" and p99 <= {p99:g} ms" if p99 else "")
            r = find("GET", s, conns)
            if r and not r.get("failed") and r.get("vs_nginx") is not None:
                add(what, f"{r['vs_nginx'] * 100:.0f}% of nginx, p99 {r['p99_ms']:.2f} ms",
                    r["vs_nginx"] >= share and (p99 is None or r["p99_ms"] <= p99) and not r["errors"])
            else:
                add(what, no_result(r), False)
    for s, rate, p99 in (("sqlite", 10000, 10), ("file", 5000, 20)):
        what = f"durable PATCH {s} c=16: >= {rate:,}/s and p99 <= {p99} ms"
        r = find("PATCH", s)
        if r and not r.get("failed"):
            add(what, f"{r['rps']:.0f}/s, p99 {r['p99_ms']:.2f} ms", r["rps"] >= rate and r["p99_ms"] <= p99
                and not r["errors"])
        else:
            add(what, no_result(r), False)
    r = find("DEMO", "sqlite walkthrough")
    if r and not r.get("failed"):
        add("DEMO walkthrough c=16: p99 <= 15 ms", f"p99 {r['p99_ms']:.2f} ms", r["p99_ms"] <= 15 and not r["errors"])
    else:
        add("DEMO walkthrough c=16: p99 <= 15 ms", no_result(r), False)
    small, large = scale_pair("sqlite")
    what = "SCALE sqlite 1M dimensions: >= 60% of the cached GET rate (GET sqlite c=16, 1,000 ids)"
    if small and large and not small.get("failed") and not large.get("failed") and small["rps"]:
        share = large["rps"] / small["rps"]
        large["vs_cached"] = round(share, 3)
        # The most the ratio can be: a GET not cached costs a cached GET
        # plus at least SQLite's read of the row alone (the floor row).
        floor = find("SCALE", "sqlite read alone (floor)", 1)
        bound = ""
        if floor and not floor.get("failed"):
            most = 1 / (1 + small["rps"] * floor["us_per_read"] / 1e6)
            large["most_vs_cached"] = round(most, 3)
            bound = f"; SQLite's read alone {floor['us_per_read']:.2f} us: at most {most * 100:.0f}%"
        turns = ", in turns" if "cached_rps" in large else ""
        add(what, f"{share * 100:.0f}% ({large['rps']:.0f} / {small['rps']:.0f}{turns}){bound}",
            share >= 0.6 and not large["errors"])
    else:
        add(what, no_result(large), False)
    postgres_targets()
    log_targets(add)
    rss_target()
    for name, s in STARTUP.items():
        add(f"ready (exec -> /readyz 200) <= 200 ms, {name}", f"median {s['median_ms']:.1f} ms",
            s["median_ms"] <= 200)
    for s in ("sqlite", "postgres"):
        small, large = scale_pair(s)
        if small and large and not small.get("failed") and not large.get("failed"):
            ratio = large["p99_ms"] / small["p99_ms"] if small["p99_ms"] else float("inf")
            large["p99_vs_1k"] = round(ratio, 2)
            add(f"GET p99 {s}: 1M dimensions within 1.5x of 1k",
                f"{large['p99_ms']:.2f} / {small['p99_ms']:.2f} ms = {ratio:.2f}x", ratio <= 1.5)
        elif s == "sqlite" or any(r["name"].startswith(s) for r in ROWS):
            add(f"GET p99 {s}: 1M dimensions within 1.5x of 1k", "no result", False)
    return T


def fmt(v, f="{:.2f}"):
    return "-" if v is None else f.format(v)


def report(t_start, load_start):
    T = targets()
    lines = []
    hdr = f"{'group':<6} {'case':<28} {'conn':>4} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'vs nginx':>8} {'errors':>6}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for r in ROWS:
        if r.get("failed"):
            lines.append(f"{r['group']:<6} {r['name']:<28} {r['conns']:>4}  "
                         f"FAILED: {r.get('failure', 'no result')} (see notes)")
            continue
        vs = f"{r['vs_nginx'] * 100:.0f}%" if r.get("vs_nginx") is not None else ""
        extra = ""
        if "walkthroughs_per_s" in r:
            extra = f"  ({r['walkthroughs_per_s']:.0f} walkthroughs/s)"
        if "rss_after_mb" in r:
            extra = (f"  (RSS {fmt(r['rss_idle_mb'], '{:.1f}')} -> {fmt(r['rss_half_mb'], '{:.1f}')} -> "
                     f"{fmt(r['rss_after_mb'], '{:.1f}')} MB: {r['bytes_per_id']} B/id overall, "
                     f"{r['second_half_bytes_per_id']} B/id over the second half)")
        if r.get("log_bytes_per_get") is not None:
            extra = f"  ({r['log_bytes_per_get']} B of log per GET)"
        if "p99_vs_1k" in r:
            extra = f"  (p99 {r['p99_vs_1k']:.2f}x the 1k figure)"
        if r["errors"]:
            extra += f"  FAILED: {r['errors']:,} of {r['requests']:,} requests in error (see notes)"
        lines.append(f"{r['group']:<6} {r['name']:<28} {r['conns']:>4} {r['rps']:>9.0f} "
                     f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {vs:>8} {r['errors']:>6}{extra}")
    lines.append("")
    lines.append("RSS of crest (VmRSS, MB):  " + ",  ".join(
        f"{k}: idle {fmt(v.get('idle_mb'), '{:.1f}')} / after {fmt(v.get('after_mb'), '{:.1f}')}"
        if "idle_mb" in v else f"{k}: after {fmt(v.get('after_mb'), '{:.1f}')}"
        for k, v in RSS.items()))
    if STARTUP:
        lines.append("Start-up, exec -> /readyz 200 (median of "
                     f"{STARTUP_RUNS}, ms):  " + ",  ".join(
                         f"{k}: {v['median_ms']:.1f} {v['runs_ms']}" for k, v in STARTUP.items()))
    lines.append("")
    lines.append("Targets:")
    for t in T:
        lines.append(f"  [{verdict(t['met']):>6}] {t['target']}: {t['value']}")
    if NOTES:
        lines.append("")
        lines.append("Notes:")
        for n in NOTES:
            lines.append("  - " + n.replace("\n", "\n    "))
    elapsed = time.time() - t_start
    load_end = load_default()
    lines.append("")
    lines.append(f"duration per measurement {DURATION} (GETs: median of {REPEAT} runs), wrk -t{THREADS}, quick={QUICK}, "
                 f"{os.cpu_count()} CPUs, "
                 + (f"servers pinned to CPU {','.join(map(str, SERVER_CPUS))} and wrk to CPU {','.join(map(str, LOAD_CPUS))}, "
                    if PIN else "no CPU pinning, ")
                 + f"loadavg start {' '.join(load_start)} end "
                 f"{' '.join(load_end)}, total {elapsed:.0f}s. wrk runs on the same machine: "
                 "figures are lower bounds.")
    print("\n".join(lines), flush=True)

    os.makedirs(OUT_DIR, exist_ok=True)
    try:
        rev = run(["git", "-C", ROOT, "rev-parse", "HEAD"], check=False).stdout.strip()
    except FileNotFoundError:
        rev = ""
    out = {"meta": {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "crest_bin": CREST, "git_rev": rev, "duration": DURATION, "quick": QUICK,
                    "wrk_threads": THREADS, "cpus": os.cpu_count(),
                    "server_cpus": SERVER_CPUS, "load_cpus": LOAD_CPUS, "pinned": PIN,
                    "loadavg_start": load_start, "loadavg_end": load_end,
                    "elapsed_s": round(elapsed, 1)},
           "rows": ROWS, "rss_mb": RSS, "startup_ms": STARTUP, "targets": T, "notes": NOTES}
    path = os.path.join(OUT_DIR, "results.json")
    # and a copy per run, for bench/summary.py (median and spread of runs)
    kept = os.path.join(OUT_DIR, time.strftime("results-%Y%m%dT%H%M%SZ.json", time.gmtime()))
    for p in (path, kept):
        with open(p, "w") as f:
            json.dump(out, f, indent=2)
    print(f"\nJSON: {os.path.relpath(path, ROOT)} (this run also in {os.path.relpath(kept, ROOT)})")


if __name__ == "__main__":
    main()
