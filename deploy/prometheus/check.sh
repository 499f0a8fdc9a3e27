#!/usr/bin/env bash
# deploy/prometheus/check.sh: checks crest's Prometheus files.
#
#   bash deploy/prometheus/check.sh      # from any directory
#
#   1. promtool check config prometheus.yml   (also loads rule_files: alerts.yml)
#   2. promtool check rules alerts.yml
#   3. promtool test rules alerts.test.yml    (the alerts' unit tests)
#   4. prometheus-blackbox-exporter --config.check on blackbox.yml
#   5. promtool check rules on every PromQL expression of the Grafana
#      dashboard ../grafana/crest.json (as recording rules, with Grafana's
#      variables replaced: $__rate_interval by 5m, $job etc. by .*)
#
# promtool (and the blackbox exporter) are installed from Debian's
# `prometheus` / `prometheus-blackbox-exporter` packages when missing and we
# are root with apt-get. No service is left running: the install is done with
# a policy-rc.d that forbids starting services, and the units the packages
# enabled are disabled again. PROMTOOL / BLACKBOX_EXPORTER override the
# binaries. Without a blackbox exporter (and no way to install it), step 4
# says SKIP. Exits non-zero if any check fails or promtool cannot be had.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PROMTOOL=${PROMTOOL:-promtool}
BLACKBOX_EXPORTER=${BLACKBOX_EXPORTER:-prometheus-blackbox-exporter}

have() { command -v "$1" >/dev/null 2>&1; }

# Installs Debian packages without starting their services, then stops and
# disables whatever they registered, so nothing holds ports 9090/9100/9115.
apt_install() {
  local policy=/usr/sbin/policy-rc.d made_policy=0 pkg
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
  fi
  local rc=0
  {
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  } || rc=$?
  [[ $made_policy == 0 ]] || rm -f "$policy"
  for pkg in "$@"; do
    if [[ -d /run/systemd/system ]] && have systemctl; then
      systemctl disable --now "$pkg" >/dev/null 2>&1 || true
    else
      service "$pkg" stop >/dev/null 2>&1 || true
      have update-rc.d && update-rc.d "$pkg" disable >/dev/null 2>&1 || true
    fi
  done
  return "$rc"
}

can_apt() { [[ $(id -u) == 0 ]] && have apt-get; }

missing=()
have "$PROMTOOL" || missing+=(prometheus)
have "$BLACKBOX_EXPORTER" || missing+=(prometheus-blackbox-exporter)
if ((${#missing[@]})) && can_apt; then
  echo "== installing ${missing[*]} (Debian packages; services not started)"
  apt_install "${missing[@]}" || echo "apt-get install ${missing[*]} failed" >&2
fi
if ! have "$PROMTOOL"; then
  echo "FAIL: promtool not found and not installable (need root and apt-get, or set PROMTOOL)" >&2
  exit 1
fi
echo "== $("$PROMTOOL" --version 2>&1 | head -n1)"

passed=0
failed=()
check() { # check NAME COMMAND...
  local name=$1
  shift
  echo
  echo "== $name: $*"
  if "$@" 2>&1; then
    passed=$((passed + 1))
    echo "-- ok: $name"
  else
    failed+=("$name")
    echo "-- FAIL: $name" >&2
  fi
}

check "scrape config" "$PROMTOOL" check config prometheus.yml
check "alerting rules" "$PROMTOOL" check rules alerts.yml
check "alert unit tests" "$PROMTOOL" test rules alerts.test.yml
if have "$BLACKBOX_EXPORTER"; then
  check "blackbox modules" "$BLACKBOX_EXPORTER" --config.file=blackbox.yml --config.check
else
  echo
  echo "== blackbox modules: SKIP (no $BLACKBOX_EXPORTER)"
fi

# The dashboard's queries, each as a recording rule (promtool parses them).
dashboard_rules=$(mktemp "${TMPDIR:-/tmp}/crest-dashboard-rules.XXXXXX.yml")
trap 'rm -f "$dashboard_rules"' EXIT
python3 - ../grafana/crest.json >"$dashboard_rules" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
exprs += [v["query"]["query"][len("label_values("):].rsplit(",", 1)[0]
          for v in d["templating"]["list"] if v.get("type") == "query"]
def grafana(e):
    e = re.sub(r"\$__(rate_)?interval|\$__range", "5m", e)
    return re.sub(r"\$\{?\w+\}?", ".*", e)
print("groups:\n  - name: grafana-dashboard\n    rules:")
for i, e in enumerate(exprs):
    print(f"      - record: crest:dashboard:{i}\n        expr: {json.dumps(grafana(e))}")
PY
check "dashboard queries ($(grep -c 'record:' "$dashboard_rules") expressions)" "$PROMTOOL" check rules "$dashboard_rules"

echo
if ((${#failed[@]})); then
  echo "deploy/prometheus: ${#failed[@]} check(s) FAILED: ${failed[*]} ($passed ok)" >&2
  exit 1
fi
echo "deploy/prometheus: all $passed checks passed"
