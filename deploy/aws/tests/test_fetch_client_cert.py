#!/usr/bin/env python3
"""Tests deploy/aws/fetch-client-cert.sh without AWS.

Usage: test_fetch_client_cert.py SCRIPT [--real-aws PATH] [--crest PATH]

* A fake `aws` (the script's AWS variable) records its arguments and prints
  self-signed PEMs made with `openssl req -x509` (marked CA:TRUE, like API
  Gateway's). Checked: the exact aws command lines, the pin file's path,
  content and mode (0644 even under umask 077), the atomic replace (new inode,
  no temp file left), stdout being exactly the --client-cert-pin flag, the id
  from a stack output or a terraform output, refusals (bad id, not a PEM, two
  PEMs, aws failing) that leave the old pin untouched, bundles, --remove, and
  the reload commands (fake systemctl/pkill).
* With --real-aws: the real aws CLI runs the script's own commands against a
  stub AWS endpoint on 127.0.0.1 (AWS_ENDPOINT_URL, dummy keys), proving the
  arguments, --query expressions and text output are what the CLI accepts and
  prints, and that the requests are the signed API calls expected.
* With --crest: a real crest binary pins the fetched bundle; a client with the
  pinned certificate gets 200, one without gets 403, and a rotation (second
  certificate fetched into the bundle, SIGHUP, old one removed, SIGHUP) is
  followed by crest without a restart.

Prints one line per check and ends with "N passed, M failed".
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

PASSED = 0
FAILED = 0


def check(cond: bool, what: str, detail: object = None) -> bool:
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print(f"  ok   {what}")
    else:
        FAILED += 1
        print(f"  FAIL {what}" + (f": {detail!r}" if detail is not None else ""))
    return cond


def make_cert(d: Path, name: str, cn: str, extra: list[str] | None = None) -> tuple[Path, Path]:
    key, crt = d / f"{name}.key", d / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", f"/CN={cn}",
         "-keyout", str(key), "-out", str(crt), *(extra or [])],
        check=True, capture_output=True, timeout=60,
    )
    return crt, key


def sha256_hex(pem: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-fingerprint", "-sha256"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "").lower()


FAKE_AWS = r'''#!{python}
"""Fake aws CLI: records argv, answers the two calls fetch-client-cert.sh makes."""
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(["aws"] + args) + "\n")
# drop global options the script may pass first
while args and args[0] in ("--region", "--profile"):
    args = args[2:]
mode = os.environ.get("FAKE_MODE", "ok")
if mode == "fail":
    print("An error occurred (AccessDeniedException) when calling the operation: denied", file=sys.stderr)
    sys.exit(255)
if args[:2] == ["apigateway", "get-client-certificate"]:
    if len(args) != 8 or args[2] != "--client-certificate-id" or args[4:] != ["--query", "pemEncodedCertificate", "--output", "text"]:
        print("fake aws: unexpected arguments", args, file=sys.stderr)
        sys.exit(252)
    path = os.path.join(os.environ["FAKE_PEM_DIR"], args[3] + ".pem")
    if not os.path.exists(path):
        print("An error occurred (NotFoundException) when calling the GetClientCertificate operation: Invalid Client Certificate identifier specified", file=sys.stderr)
        sys.exit(255)
    pem = open(path).read().rstrip("\n")
    if mode == "garbage":
        pem = "None"
    elif mode == "crlf":
        pem = pem.replace("\n", "\r\n")
    elif mode == "two":
        pem = pem + "\n" + pem
    elif mode == "corrupt":
        pem = pem.replace(pem.splitlines()[3], "AAAA" * 16)
    print(pem)
elif args[:2] == ["cloudformation", "describe-stacks"]:
    print(os.environ.get("FAKE_STACK_OUTPUT", "None"))
else:
    print("fake aws: unexpected command", args, file=sys.stderr)
    sys.exit(252)
'''

FAKE_RECORDER = r'''#!{python}
"""Fake {name}: records argv{extra_doc}."""
import json, os, signal, sys
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(["{name}"] + sys.argv[1:]) + "\n")
if "{name}" == "terraform":
    sys.stdout.write(os.environ.get("FAKE_TF_OUTPUT", ""))  # -raw: no newline
if "{name}" == "pkill" and os.environ.get("CREST_PID"):
    os.kill(int(os.environ["CREST_PID"]), signal.SIGHUP)
if "{name}" == "systemctl" and os.environ.get("FAKE_SYSTEMCTL_RELOAD_FAILS") and sys.argv[1:2] == ["reload"]:
    sys.exit(1)
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
'''


class Env:
    def __init__(self, script: Path, root: Path):
        self.script = script
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.pems = root / "pems"
        self.pems.mkdir()
        self.log = root / "calls.jsonl"
        (self.bin / "aws").write_text(FAKE_AWS.replace("{python}", sys.executable))
        for name in ("terraform", "systemctl", "pkill"):
            (self.bin / name).write_text(
                FAKE_RECORDER.replace("{python}", sys.executable).replace("{name}", name).replace("{extra_doc}", ""))
        for f in self.bin.iterdir():
            f.chmod(0o755)

    def run(self, *args: str, umask: int | None = None, **env: str) -> subprocess.CompletedProcess:
        self.log.write_text("")
        e = {k: v for k, v in os.environ.items() if not k.startswith(("AWS", "FAKE_", "CREST_"))}
        e.update({
            "AWS": str(self.bin / "aws"), "TERRAFORM": str(self.bin / "terraform"),
            "SYSTEMCTL": str(self.bin / "systemctl"), "PKILL": str(self.bin / "pkill"),
            "FAKE_LOG": str(self.log), "FAKE_PEM_DIR": str(self.pems),
        })
        e.update(env)
        pre = (lambda: os.umask(umask)) if umask is not None else None
        return subprocess.run(["bash", str(self.script), *args], env=e, capture_output=True, text=True,
                              timeout=60, preexec_fn=pre)

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def test_with_fake_aws(env: Env, certs: dict[str, Path]) -> None:
    pins = env.root / "pins"
    a_id, b_id = "abc123", "def456"
    a_pem, b_pem = certs[a_id].read_bytes(), certs[b_id].read_bytes()

    print("fetch-client-cert.sh: usage")
    r = env.run("--help")
    check(r.returncode == 0 and "Usage:" in r.stdout and "--client-cert-pin" in r.stdout, "--help prints the usage, exit 0")
    r = env.run()
    check(r.returncode == 2 and "give exactly one of" in r.stderr, "no id: usage error, exit 2", (r.returncode, r.stderr))
    r = env.run("--bogus")
    check(r.returncode == 2, "unknown option: exit 2", r.returncode)
    r = env.run("--reload", "sometimes", a_id)
    check(r.returncode == 2, "bad --reload mode: exit 2", r.returncode)
    r = env.run(a_id, "--stack", "s")
    check(r.returncode == 2, "an id and --stack together: exit 2", r.returncode)

    print("fetch-client-cert.sh: fetch by id with a fake aws")
    r = env.run("--pin-dir", str(pins), a_id, umask=0o077)
    dest = pins / f"apigw-{a_id}.pem"
    check(r.returncode == 0, "exit 0", (r.returncode, r.stderr))
    check(env.calls() == [["aws", "apigateway", "get-client-certificate", "--client-certificate-id", a_id,
                           "--query", "pemEncodedCertificate", "--output", "text"]],
          "runs exactly: aws apigateway get-client-certificate --client-certificate-id ID --query pemEncodedCertificate --output text",
          env.calls())
    check(dest.exists() and dest.read_bytes() == a_pem, f"the PEM lands in PIN_DIR/apigw-{a_id}.pem byte for byte")
    mode = stat.S_IMODE(dest.stat().st_mode) if dest.exists() else None
    check(mode == 0o644, "the pin file has mode 0644 (even under umask 077)", oct(mode or 0))
    check(r.stdout == f"--client-cert-pin {dest}\n", "stdout is exactly the --client-cert-pin flag", r.stdout)
    check(sha256_hex(certs[a_id]) in r.stderr, "stderr shows the SHA-256 that crest logs as client_sha256")
    check(leftovers(pins) == [], "no temp file is left in the pin directory", leftovers(pins))

    inode = dest.stat().st_ino
    r = env.run("--pin-dir", str(pins), "--region", "eu-west-1", "--profile", "ops", a_id)
    check(r.returncode == 0 and dest.stat().st_ino != inode and dest.read_bytes() == a_pem,
          "a second fetch replaces the file by rename (new inode: what crest's file poll notices)")
    check(env.calls()[0][1:5] == ["--region", "eu-west-1", "--profile", "ops"], "--region and --profile reach aws",
          env.calls())

    r = env.run("--pin-dir", str(pins), a_id, FAKE_MODE="crlf")
    check(r.returncode == 0 and dest.read_bytes() == a_pem, "CRLF output from aws is normalised")

    print("fetch-client-cert.sh: refusals leave the existing pin untouched")
    before = dest.read_bytes()
    for label, kw, args in (
        ("aws fails", {"FAKE_MODE": "fail"}, [a_id]),
        ("aws prints no PEM", {"FAKE_MODE": "garbage"}, [a_id]),
        ("aws prints two PEMs", {"FAKE_MODE": "two"}, [a_id]),
        ("the PEM does not parse", {"FAKE_MODE": "corrupt"}, [a_id]),
        ("unknown certificate id", {}, ["nosuchid"]),
        ("an id with ../", {}, ["../../etc/evil"]),
        ("an id with a space", {}, ["a b"]),
    ):
        r = env.run("--pin-dir", str(pins), *args, **kw)
        check(r.returncode == 1 and r.stdout == "" and dest.read_bytes() == before and leftovers(pins) == []
              and sorted(p.name for p in pins.iterdir()) == [f"apigw-{a_id}.pem"],
              f"{label}: exit 1, nothing on stdout, no file written, old pin intact", (r.returncode, r.stderr.strip()))
    check(not (env.root / "etc").exists(), "an id with ../ does not write outside the pin directory")

    print("fetch-client-cert.sh: id from CloudFormation or Terraform outputs")
    r = env.run("--pin-dir", str(pins), "--stack", "crest-api", FAKE_STACK_OUTPUT=b_id)
    calls = env.calls()
    check(r.returncode == 0 and (pins / f"apigw-{b_id}.pem").read_bytes() == b_pem,
          "--stack reads the ClientCertificateId output, then fetches that certificate", (r.returncode, r.stderr))
    check(calls and calls[0] == ["aws", "cloudformation", "describe-stacks", "--stack-name", "crest-api", "--query",
                                 "Stacks[0].Outputs[?OutputKey=='ClientCertificateId'].OutputValue | [0]", "--output", "text"],
          "--stack runs aws cloudformation describe-stacks with a query for the output", calls[:1])
    r = env.run("--pin-dir", str(pins), "--stack", "crest-api", "--output-key", "Other", FAKE_STACK_OUTPUT="None")
    check(r.returncode == 1 and "has no output Other" in r.stderr, "--stack without that output: exit 1, says so",
          r.stderr.strip())
    (pins / f"apigw-{b_id}.pem").unlink()
    tfdir = env.root / "tf"
    tfdir.mkdir()
    r = env.run("--pin-dir", str(pins), "--terraform-dir", str(tfdir), FAKE_TF_OUTPUT=b_id)
    check(r.returncode == 0 and (pins / f"apigw-{b_id}.pem").read_bytes() == b_pem and
          env.calls()[0] == ["terraform", f"-chdir={tfdir}", "output", "-raw", "client_certificate_id"],
          "--terraform-dir reads terraform output -raw client_certificate_id, then fetches it", env.calls()[:1])
    (pins / f"apigw-{b_id}.pem").unlink()

    print("fetch-client-cert.sh: bundle, reload and remove (rotation)")
    bundle = pins / "apigw.pem"
    r = env.run("--pin-dir", str(pins), "--bundle", str(bundle), "--reload", "systemd", b_id)
    check(r.returncode == 0 and r.stdout == f"--client-cert-pin {bundle}\n",
          "with --bundle, stdout is the flag for the bundle", (r.stdout, r.stderr))
    check(bundle.read_bytes() == a_pem + b_pem, "the bundle holds both certificates (old and new)")
    check(stat.S_IMODE(bundle.stat().st_mode) == 0o644, "the bundle has mode 0644")
    check(["systemctl", "reload", "crest"] in env.calls(), "--reload systemd runs systemctl reload crest", env.calls())
    r = env.run("--pin-dir", str(pins), "--reload", "systemd", "--unit", "crest-b", b_id, FAKE_SYSTEMCTL_RELOAD_FAILS="1")
    check(r.returncode == 0 and ["systemctl", "kill", "--signal=HUP", "--kill-who=main", "crest-b"] in env.calls(),
          "a unit without ExecReload gets SIGHUP through systemctl kill", env.calls())
    r = env.run("--pin-dir", str(pins), "--reload", "signal", b_id)
    check(r.returncode == 0 and ["pkill", "-HUP", "-x", "crest"] in env.calls(),
          "--reload signal runs pkill -HUP -x crest", env.calls())
    r = env.run("--pin-dir", str(pins), "--reload", "signal", b_id, FAKE_EXIT="1")
    check(r.returncode == 1 and "no process named crest" in r.stderr, "no crest to signal: exit 1, says so",
          r.stderr.strip())
    r = env.run("--pin-dir", str(pins), "--bundle", str(bundle), "--remove", a_id)
    check(r.returncode == 0 and not (pins / f"apigw-{a_id}.pem").exists() and bundle.read_bytes() == b_pem,
          "--remove deletes the old pin and rebuilds the bundle without it", r.stderr)
    check(env.calls() == [], "--remove does not call aws", env.calls())
    r = env.run("--pin-dir", str(pins), "--bundle", str(bundle), "--remove", b_id)
    check(r.returncode == 1 and bundle.read_bytes() == b_pem,
          "removing the last pin keeps the bundle as it was (crest refuses an empty pin file)", r.stderr.strip())
    r = env.run("--pin-dir", str(pins), "--remove", "nosuchid")
    check(r.returncode == 1, "--remove of a pin that is not there: exit 1")


# ------------------------------------------------------- real aws CLI, stub endpoint


class Stub(http.server.BaseHTTPRequestHandler):
    requests: list[dict] = []
    pems: dict[str, str] = {}
    stack_outputs: dict[str, str] = {}

    def log_message(self, *a):  # quiet
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        Stub.requests.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization", "")})
        prefix = "/clientcertificates/"
        cid = urllib.parse.unquote(self.path[len(prefix):]) if self.path.startswith(prefix) else None
        if cid in Stub.pems:
            body = {"clientCertificateId": cid, "description": "stub", "pemEncodedCertificate": Stub.pems[cid],
                    "createdDate": 1700000000, "expirationDate": 1731536000, "tags": {}}
            self._send(200, json.dumps(body).encode(), "application/json")
        else:
            self._send(404, json.dumps({"message": "Invalid Client Certificate identifier specified"}).encode(),
                       "application/json")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        Stub.requests.append({"method": "POST", "path": self.path, "form": form,
                              "auth": self.headers.get("Authorization", "")})
        outputs = "".join(f"<member><OutputKey>{k}</OutputKey><OutputValue>{v}</OutputValue></member>"
                          for k, v in Stub.stack_outputs.items())
        name = form.get("StackName", [""])[0]
        xml = (
            '<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
            "<DescribeStacksResult><Stacks><member>"
            f"<StackName>{name}</StackName>"
            f"<StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1</StackId>"
            "<CreationTime>2024-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>"
            f"<Outputs>{outputs}</Outputs>"
            "</member></Stacks></DescribeStacksResult>"
            "<ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></DescribeStacksResponse>"
        )
        self._send(200, xml.encode(), "text/xml")


def test_with_real_aws(env: Env, real_aws: str, certs: dict[str, Path]) -> None:
    print("fetch-client-cert.sh: the real aws CLI against a stub endpoint on 127.0.0.1")
    Stub.pems = {k: v.read_text().rstrip("\n") for k, v in certs.items()}
    Stub.stack_outputs = {"RestApiId": "a1b2c3d4e5", "ClientCertificateId": "def456"}
    srv = http.server.HTTPServer(("127.0.0.1", 0), Stub)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        pins = env.root / "pins-real"
        common = {
            "AWS": real_aws, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{srv.server_address[1]}",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-secret",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }
        Stub.requests = []
        r = env.run("--pin-dir", str(pins), "abc123", **common)
        dest = pins / "apigw-abc123.pem"
        check(r.returncode == 0 and dest.exists() and dest.read_bytes() == certs["abc123"].read_bytes(),
              "aws apigateway get-client-certificate ... --query pemEncodedCertificate --output text yields the PEM the script pins",
              (r.returncode, r.stderr[-400:]))
        req = Stub.requests[0] if Stub.requests else {}
        check(req.get("method") == "GET" and req.get("path") == "/clientcertificates/abc123",
              "the CLI called GET /clientcertificates/abc123 (API Gateway GetClientCertificate)", req)
        check("/apigateway/aws4_request" in req.get("auth", ""), "the call is SigV4-signed for apigateway")
        Stub.requests = []
        r = env.run("--pin-dir", str(pins), "--stack", "crest-api", **common)
        check(r.returncode == 0 and (pins / "apigw-def456.pem").read_bytes() == certs["def456"].read_bytes(),
              "--stack: the CLI's describe-stacks query picks the ClientCertificateId output among others",
              (r.returncode, r.stderr[-400:]))
        form = Stub.requests[0].get("form", {}) if Stub.requests else {}
        check(form.get("Action") == ["DescribeStacks"] and form.get("StackName") == ["crest-api"],
              "the CLI called CloudFormation DescribeStacks for the stack", form)
        r = env.run("--pin-dir", str(pins), "nosuchid", **common)
        check(r.returncode == 1 and "get-client-certificate" in r.stderr,
              "a 404 from API Gateway makes the script fail (exit 1)", (r.returncode, r.stderr[-300:]))
    finally:
        srv.shutdown()
        srv.server_close()


# ------------------------------------------------------------- real crest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def https_get(port: int, ca: Path, cert: Path | None, key: Path | None, path: str) -> tuple[int | None, str]:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return None, f"{type(e).__name__}: {e}"
    finally:
        conn.close()


def test_with_crest(env: Env, crest: str, certs: dict[str, Path], keys: dict[str, Path], tmp: Path) -> None:
    print(f"fetch-client-cert.sh + crest ({crest}): pinning and rotation")
    pins = tmp / "crest-pins"
    bundle = pins / "apigw.pem"
    srv_crt, srv_key = make_cert(tmp, "server", "127.0.0.1",
                                 ["-addext", "subjectAltName=IP:127.0.0.1"])
    r = env.run("--pin-dir", str(pins), "--bundle", str(bundle), "abc123")
    if not check(r.returncode == 0, "first certificate fetched into the bundle", r.stderr):
        return
    http_port, tls_port = free_port(), free_port()
    log = open(tmp / "crest.log", "w")
    proc = subprocess.Popen(
        [crest, "serve", "--listen", f"127.0.0.1:{http_port}", "--tls-listen", f"127.0.0.1:{tls_port}",
         "--tls-cert", str(srv_crt), "--tls-key", str(srv_key), "--client-cert-pin", str(bundle),
         "--store", "memory:", "--tls-reload-interval", "1h"],
        stdout=log, stderr=subprocess.STDOUT, env={k: v for k, v in os.environ.items() if not k.startswith("CREST_")},
    )
    path = "/v1/scalableTargetDimensions/1-23456789"
    try:
        deadline = time.time() + 30
        ready = False
        while time.time() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", tls_port), timeout=1):
                    ready = True
                    break
            except OSError:
                time.sleep(0.2)
        if not check(ready, "crest starts with --client-cert-pin BUNDLE",
                     (tmp / "crest.log").read_text()[-800:] if not ready else None):
            return

        def status(name: str | None) -> int | None:
            return https_get(tls_port, srv_crt, certs.get(name), keys.get(name), path)[0]

        def wait_for(name: str, want: int | None, timeout: float = 10) -> int | None:
            end = time.time() + timeout
            got = status(name)
            while got != want and time.time() < end:
                time.sleep(0.3)
                got = status(name)
            return got

        code, body = https_get(tls_port, srv_crt, certs["abc123"], keys["abc123"], path)
        check(code == 200 and '"scalableTargetDimensionId":"1-23456789"' in body,
              "the pinned certificate (self-signed, CA:TRUE like API Gateway's) gets 200", (code, body[:200]))
        code, body = https_get(tls_port, srv_crt, None, None, path)
        check(code == 403 and "client certificate required" in body, "no client certificate: 403", (code, body[:200]))
        check(status("def456") != 200, "a certificate not yet pinned is refused")

        fake_env = {"CREST_PID": str(proc.pid)}  # the fake pkill signals this crest only
        r = env.run("--pin-dir", str(pins), "--bundle", str(bundle), "--reload", "signal", "def456", **fake_env)
        check(r.returncode == 0 and ["pkill", "-HUP", "-x", "crest"] in env.calls(),
              "rotation step 1: new certificate fetched into the bundle, SIGHUP sent", r.stderr[-300:])
        check(wait_for("def456", 200) == 200, "after SIGHUP the new certificate gets 200 (no restart)")
        check(status("abc123") == 200, "the old certificate still gets 200 during the rotation")

        r = env.run("--pin-dir", str(pins), "--bundle", str(bundle), "--reload", "signal", "--remove", "abc123",
                    **fake_env)
        check(r.returncode == 0, "rotation step 2: old pin removed, bundle rebuilt, SIGHUP sent", r.stderr[-300:])
        check(wait_for("abc123", None) != 200, "after SIGHUP the old certificate is refused")
        check(status("def456") == 200, "the new certificate still gets 200")
        check(proc.poll() is None, "crest kept running through the rotation")
        reloads = (tmp / "crest.log").read_text().count("TLS certificates reloaded")
        check(reloads >= 2, "crest logged both reloads", reloads)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("script")
    ap.add_argument("--real-aws")
    ap.add_argument("--crest")
    a = ap.parse_args()
    script = Path(a.script).resolve()
    with tempfile.TemporaryDirectory(prefix="crest-fetch-test-") as d:
        tmp = Path(d)
        env = Env(script, tmp)
        certs, keys = {}, {}
        for cid, cn in (("abc123", "ApiGatewayTestA"), ("def456", "ApiGatewayTestB")):
            crt, key = make_cert(tmp, cid, cn)
            certs[cid], keys[cid] = crt, key
            (env.pems / f"{cid}.pem").write_text(crt.read_text())
        test_with_fake_aws(env, certs)
        if a.real_aws:
            test_with_real_aws(env, a.real_aws, certs)
        else:
            print("fetch-client-cert.sh: real aws CLI test skipped (no --real-aws)")
        if a.crest:
            test_with_crest(env, a.crest, certs, keys, tmp)
        else:
            print("fetch-client-cert.sh: crest end-to-end test skipped (no crest binary given)")
    print(f"fetch-client-cert: {PASSED} passed, {FAILED} failed")
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
