#!/usr/bin/env python3
"""Checks of crest's deployment files, used by deploy/checks/deploy.sh.

Subcommands (run from the repository root, in a venv with dockerfile-parse
and pyyaml):

  dockerfile                          assert the Dockerfile's and .dockerignore's properties
  compose FILE ENVFILE [RESOLVED]     assert a compose file's properties (RESOLVED: the
                                      JSON of `docker compose config`, cross-checked)
  systemd UNIT TOML                   assert the unit's hardening and the example config
  unit-run UNIT TOML ENVFILE LISTEN STORE OUT
                                      bash arrays: crest started as the unit's ExecStart
  compose-run FILE ENVFILE SERVICE LISTEN STORE
                                      bash arrays: crest started as the compose service

The *-run subcommands print `cmd=(…)`, `envs=(…)` and `hc_envs=(…)` for bash
to eval; every word is quoted with shlex.quote.
"""

import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

ROOT = Path.cwd()
# Settings that need a real domain and the internet (ACME) or certificates.
TLS_VARS = re.compile(r"^CREST_(TLS_|ACME_|CLIENT_|HTTP_API$)")


def check(cond, what):
    if not cond:
        sys.exit(f"  FAIL: {what}")
    print(f"  ok: {what}")


# ---------------------------------------------------------------- Dockerfile
def dockerfile():
    from dockerfile_parse import DockerfileParser

    df = DockerfileParser(path=str(ROOT / "Dockerfile"))
    ins = [(s["instruction"], s["value"]) for s in df.structure if s["instruction"] != "COMMENT"]
    froms = [i for i, (k, _) in enumerate(ins) if k == "FROM"]
    check(df.is_multistage and len(froms) >= 2, f"multi-stage build ({len(froms)} stages)")
    check(re.fullmatch(r"rust:1(\.\d+)*-bookworm", df.parent_images[0]), f"builder is {df.parent_images[0]}")
    builder, runtime = ins[froms[0] : froms[-1]], ins[froms[-1] :]

    def first(pred, seq=builder):
        return next((i for i, (k, v) in enumerate(seq) if pred(k, v)), None)

    builds = [i for i, (k, v) in enumerate(builder) if k == "RUN" and "cargo build --release --locked" in v]
    check(len(builds) >= 2, "builder runs `cargo build --release --locked` twice (dependencies, then crest)")
    manifests = first(lambda k, v: k == "COPY" and "Cargo.toml" in v and "Cargo.lock" in v)
    src = first(lambda k, v: k == "COPY" and v.split()[0] == "src")
    migrations = first(lambda k, v: k == "COPY" and v.split()[0] == "migrations")
    check(None not in (manifests, src, migrations), "COPY of Cargo.toml+Cargo.lock, src and migrations")
    dummy = builder[builds[0]][1]
    check(
        manifests < builds[0] < src and "src/main.rs" in dummy and "src/lib.rs" in dummy,
        "dependency layer: manifests + dummy src/main.rs, src/lib.rs built before the source COPY",
    )
    check(migrations < builds[-1] and src < builds[-1], "src and migrations (include_str! in src/store/migrations.rs) copied before the real build")
    check("touch src/main.rs src/lib.rs" in builder[builds[-1]][1], "real build touches src so cargo rebuilds crest")

    base = df.baseimage
    distroless = base.startswith("gcr.io/distroless/cc-debian12")
    check(distroless or base.startswith("debian:bookworm-slim"), f"runtime base is {base}")
    users = [v for k, v in runtime if k == "USER"]
    check(users and users[-1].split(":")[0] not in ("root", "0"), f"runtime USER is non-root ({users[-1:]})")
    copies = [v.split() for k, v in runtime if k == "COPY"]
    check(any(c[-1] == "/usr/local/bin/crest" for c in copies), "binary copied to /usr/local/bin/crest")
    if distroless:
        check(
            any("--chown=65532:65532" in c and c[-1] == "/var/lib/crest" for c in copies),
            "/var/lib/crest copied with --chown=65532:65532 (distroless has no shell for mkdir/chown)",
        )
    vols = [v for k, v in runtime if k == "VOLUME"]
    vol = json.loads(vols[-1]) if vols and vols[-1].startswith("[") else " ".join(vols).split()
    check("/var/lib/crest" in vol, "VOLUME /var/lib/crest")
    ports = {p.split("/")[0] for k, v in runtime if k == "EXPOSE" for p in v.split()}
    check({"80", "443", "8080"} <= ports, f"EXPOSE {sorted(ports, key=int)}")
    env = df.envs
    check(env.get("CREST_LISTEN") == "0.0.0.0:8080", "ENV CREST_LISTEN=0.0.0.0:8080")
    check(env.get("CREST_STORE") == "sqlite:/var/lib/crest/crest.db", "ENV CREST_STORE=sqlite:/var/lib/crest/crest.db")
    hc = [v for k, v in runtime if k == "HEALTHCHECK"]
    hc_cmd = hc[-1].split("CMD", 1)[1].strip() if hc and "CMD" in hc[-1] else ""
    check(hc_cmd.startswith("[") and json.loads(hc_cmd) == ["crest", "healthcheck"], "HEALTHCHECK CMD [\"crest\", \"healthcheck\"] (exec form)")
    ep = [v for k, v in runtime if k == "ENTRYPOINT"]
    cmd = [v for k, v in runtime if k == "CMD"]
    check(ep and json.loads(ep[-1]) == ["crest"], 'ENTRYPOINT ["crest"]')
    check(cmd and json.loads(cmd[-1]) == ["serve"], 'CMD ["serve"]')

    ignore = {ln.strip().strip("/") for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")}
    check({"target", ".git", "data"} <= ignore, ".dockerignore excludes target/, .git/, data/")
    check(not ignore & {"src", "migrations", "Cargo.toml", "Cargo.lock"}, ".dockerignore keeps src, migrations, Cargo.*")
    notices = "deploy/notices/THIRD_PARTY_NOTICES"
    check(any(c == [notices, "/usr/share/doc/crest/THIRD_PARTY_NOTICES"] for c in copies), f"runtime COPY {notices} to /usr/share/doc/crest/")
    check(f"!{notices}" in ignore and (ROOT / notices).is_file(), f".dockerignore re-includes {notices} (deploy/ is excluded)")


# ------------------------------------------------------------------- Compose
VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def env_file(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def interpolate(node, env):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def sub(m):
        name, op, arg = m.groups()
        value = env.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and value == "")):
            sys.exit(f"  FAIL: {name} is required: {arg}")
        if (op == ":-" and not value) or (op == "-" and value is None):
            return arg
        return value or ""

    return VAR.sub(sub, node)


def load_compose(file, envfile):
    import yaml

    return interpolate(yaml.safe_load(Path(file).read_text()), env_file(envfile))


def service_env(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def compose(file, envfile, resolved=None):
    doc, name = load_compose(file, envfile), Path(file).parent.name
    services = doc["services"]
    crest = {n: s for n, s in services.items() if "build" in s or "crest" in str(s.get("image", ""))}
    for n, s in crest.items():
        ctx = (Path(file).parent / s["build"]["context"]).resolve()
        check(ctx == ROOT and (ctx / "Dockerfile").exists(), f"{n}: builds the top-level Dockerfile")
        check(all(v != "" for v in service_env(s).values()), f"{n}: no empty CREST_* value (crest rejects them)")
    replicas = {n: s for n, s in crest.items() if s.get("command") != ["migrate"]}
    for n, s in replicas.items():
        env = service_env(s)
        check(s.get("healthcheck", {}).get("test") == ["CMD", "crest", "healthcheck"], f"{n}: healthcheck is crest healthcheck")
        check(env.get("CREST_LISTEN") == "0.0.0.0:8080", f"{n}: CREST_LISTEN=0.0.0.0:8080")
        check(s.get("restart") == "unless-stopped", f"{n}: restart unless-stopped")
        grace = duration_s(str(s.get("stop_grace_period", "10s")))
        delay, timeout = duration_s(env.get("CREST_SHUTDOWN_DELAY", "0s")), duration_s(env.get("CREST_SHUTDOWN_TIMEOUT", "10s"))
        check(grace > delay + timeout, f"{n}: stop_grace_period {grace}s > CREST_SHUTDOWN_DELAY {delay}s + CREST_SHUTDOWN_TIMEOUT {timeout}s")
    if name == "single":
        (n, s), env = next(iter(crest.items())), service_env(next(iter(crest.values())))
        check(len(crest) == 1, "single: one crest service")
        check({"80:8080", "443:8443"} <= set(map(str, s["ports"])), f"{n}: ports 80:8080 and 443:8443")
        check(env.get("CREST_TLS_LISTEN") == "0.0.0.0:8443", f"{n}: CREST_TLS_LISTEN=0.0.0.0:8443")
        check(env.get("CREST_ACME_CHALLENGE") == "http-01", f"{n}: ACME challenge http-01 (ports are mapped)")
        check(env.get("CREST_ACME_DOMAIN") and env.get("CREST_ACME_EMAIL"), f"{n}: ACME domain and e-mail come from the env file")
        check(env.get("CREST_ACME_DIRECTORY") == "letsencrypt-staging", f"{n}: example starts on letsencrypt-staging")
        check(env.get("CREST_STORE", "").startswith("sqlite:/var/lib/crest/"), f"{n}: embedded SQLite store in /var/lib/crest")
        vols = [v.split(":") for v in s.get("volumes", [])]
        check(any(v[1] == "/var/lib/crest" and v[0] in (doc.get("volumes") or {}) for v in vols), f"{n}: named volume on /var/lib/crest")
    else:
        pw = env_file(envfile)["POSTGRES_PASSWORD"]
        pg = services["postgres"]
        check(str(pg["image"]).startswith("postgres:16"), "postgres:16 service")
        check(pg["environment"]["POSTGRES_PASSWORD"] == pw and "healthcheck" in pg, "postgres: password from env file, healthcheck")
        check(services["migrate"].get("command") == ["migrate"], "migrate: one-shot `crest migrate`")
        check(len(replicas) >= 2, f"{len(replicas)} crest replicas: {sorted(replicas)}")
        conf = (Path(file).parent / "nginx.conf").read_text()
        for n, s in replicas.items():
            dep = s.get("depends_on", {})
            check(service_env(s)["CREST_STORE"] == f"postgres://crest:{pw}@postgres:5432/crest", f"{n}: CREST_STORE on the postgres service")
            check(dep.get("postgres", {}).get("condition") == "service_healthy", f"{n}: waits for postgres healthy")
            check(dep.get("migrate", {}).get("condition") == "service_completed_successfully", f"{n}: waits for migrate")
            check(re.search(rf"^\s*server\s+{n}:8080\b", conf, re.M), f"nginx.conf balances to {n}:8080")
        check("proxy_pass http://crest;" in conf and "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"], "nginx uses nginx.conf")
    if resolved:
        theirs = json.loads(Path(resolved).read_text())["services"]
        for n, s in services.items():
            check(service_env(s) == {k: str(v) for k, v in (theirs[n].get("environment") or {}).items()}, f"{n}: environment equals docker compose's own interpolation")


def compose_run(file, envfile, service, listen, store):
    from dockerfile_parse import DockerfileParser

    df = DockerfileParser(path=str(ROOT / "Dockerfile"))
    svc = load_compose(file, envfile)["services"][service]
    # The container's environment: the image's ENV, then the service's.
    env = {k: v for k, v in df.envs.items() if k != "PATH"} | service_env(svc)
    env |= {"CREST_LISTEN": listen, "CREST_STORE": store}
    served = {k: v for k, v in env.items() if not TLS_VARS.match(k)}
    entry = json.loads([s["value"] for s in df.structure if s["instruction"] == "ENTRYPOINT"][-1])
    command = svc.get("command") or json.loads([s["value"] for s in df.structure if s["instruction"] == "CMD"][-1])
    emit(entry + command, served, env)


# ------------------------------------------------------------------- systemd
def unit_keys(path):
    keys = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            k, _, v = line.partition("=")
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def duration_s(text):
    m = re.fullmatch(r"(\d+)(ms|s|min|m)?", text.strip())
    return int(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "min": 60, "m": 60}[m.group(2)]


def systemd(unit, toml_path):
    u = {k: v[-1] for k, v in unit_keys(unit).items()}
    every = unit_keys(unit)
    check(u.get("DynamicUser") == "yes" or u.get("User") not in (None, "root"), "runs as a non-root (dynamic) user")
    check(u.get("StateDirectory") == "crest", "StateDirectory=crest (/var/lib/crest)")
    check(u.get("ExecStart") == "/usr/local/bin/crest serve --config /etc/crest/crest.toml", "ExecStart with --config /etc/crest/crest.toml")
    check(u.get("EnvironmentFile") == "-/etc/crest/crest.env", "optional EnvironmentFile /etc/crest/crest.env")
    for k, v in [("AmbientCapabilities", "CAP_NET_BIND_SERVICE"), ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
                 ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
                 ("PrivateDevices", "yes"), ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"),
                 ("ProtectKernelLogs", "yes"), ("ProtectControlGroups", "yes"), ("Restart", "on-failure")]:
        check(u.get(k) == v, f"{k}={v}")
    check(set(u.get("RestrictAddressFamilies", "").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}, "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX")
    check("@system-service" in every.get("SystemCallFilter", []), "SystemCallFilter=@system-service")
    check(u.get("PrivateUsers", "no") == "no", "no PrivateUsers= (it would void CAP_NET_BIND_SERVICE on the host network)")
    check("RestartSec" in u and "kill -HUP $MAINPID" in u.get("ExecReload", ""), "RestartSec, ExecReload sends SIGHUP")
    with open(toml_path, "rb") as f:
        conf = tomllib.load(f)
    stop, shutdown = duration_s(u["TimeoutStopSec"]), duration_s(conf.get("shutdown_timeout", "10s"))
    delay = duration_s(conf.get("shutdown_delay", "0s"))
    check(stop > delay + shutdown, f"TimeoutStopSec {stop}s > crest's shutdown_delay {delay}s + shutdown_timeout {shutdown}s")
    check(conf.get("store", "").startswith("sqlite:/var/lib/crest/"), "example store is in the StateDirectory")
    known = set(re.findall(r"^#?\s*(\w+)\s*=", (ROOT / "config/crest.toml").read_text(), re.M))
    used = {k for k, v in conf.items() if not isinstance(v, dict)} | {k for v in conf.values() if isinstance(v, dict) for k in v}
    check(used <= known, f"every key of {toml_path} is a key of config/crest.toml")


def unit_run(unit, toml_path, envfile, listen, store, out):
    """The unit's ExecStart with its config copied to OUT (listen, store changed)."""
    text = Path(toml_path).read_text()
    text, n1 = re.subn(r"^listen\s*=.*$", f'listen = "{listen}"', text, flags=re.M)
    text, n2 = re.subn(r"^store\s*=.*$", f'store = "{store}"', text, flags=re.M)
    if (n1, n2) != (1, 1):
        sys.exit("  FAIL: the example config must set listen and store exactly once")
    Path(out).write_text(text)
    argv = shlex.split(unit_keys(unit)["ExecStart"][-1])
    argv[argv.index("--config") + 1] = out
    env = env_file(envfile)
    emit(argv, env, env)


def emit(argv, env, hc_env):
    q = lambda d: " ".join(shlex.quote(f"{k}={v}") for k, v in d.items())
    print(f"cmd=({' '.join(map(shlex.quote, argv))})")
    print(f"envs=({q(env)})")
    print(f"hc_envs=({q(hc_env)})")


if __name__ == "__main__":
    commands = {"dockerfile": dockerfile, "compose": compose, "systemd": systemd, "unit-run": unit_run, "compose-run": compose_run}
    commands[sys.argv[1]](*sys.argv[2:])
