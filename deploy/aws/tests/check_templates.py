#!/usr/bin/env python3
"""Asserts what the CloudFormation templates and the Terraform module must do.

Run by deploy/aws/check.sh inside its venv (needs cfn-lint for its YAML loader
and python-hcl2). Usage: check_templates.py AWS_DIR (deploy/aws: its
cloudformation/, terraform/, terraform/examples/multi-region/ and README.md)

The private, many-dimension, multi-region and IAM checks live in
check_variants.py, the READMEs' commands and snippets in check_readme.py;
this file has the public single-dimension API and the shared evaluators.

Both are read as data, intrinsic functions and interpolations are evaluated
with example values (an API id, a region, a stage, a crest URL), and the
resulting URLs are compared with what API Gateway, Application Auto Scaling
and crest expect. Every failed property is printed; then the same checks are
run on deliberately broken copies, which must fail (so the checks are not
vacuous). Exit status 0 only if everything holds.
"""

from __future__ import annotations

import copy
import pathlib
import re
import sys

import hcl2
from cfnlint.decode import decode

# Example values used to evaluate the templates.
API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
URL_SUFFIX = "amazonaws.com"
STAGE = "prod"
DIMENSION_ID = "1-23456789"
CREST_URL = "https://crest.example.com"

PATH_PARAM = "scalableTargetDimensionId"
EXPECTED_INTEGRATION_URI = f"{CREST_URL}/v1/scalableTargetDimensions/{{{PATH_PARAM}}}"
# What crest serves (README, top): /v1/scalableTargetDimensions/{id}.
EXPECTED_BACKEND_URL = f"{CREST_URL}/v1/scalableTargetDimensions/{DIMENSION_ID}"
# What AAS wants as the custom resource ID.
EXPECTED_RESOURCE_ID = (
    f"https://{API_ID}.execute-api.{REGION}.{URL_SUFFIX}/{STAGE}/scalableTargetDimensions/{DIMENSION_ID}"
)
SERVICE_NAMESPACE = "custom-resource"
SCALABLE_DIMENSION = "custom-resource:ResourceType:Property"
METHOD_PARAM = f"method.request.path.{PATH_PARAM}"
INTEGRATION_PARAM = f"integration.request.path.{PATH_PARAM}"

# crest's id rule (README, "Ids"): 1-1600 bytes of printable characters,
# no / or \, not . or .. (the templates allow a stricter subset)
def crest_accepts_id(i: str) -> bool:
    return (
        0 < len(i.encode()) <= 1600
        and all(c.isprintable() and c not in "/\\" for c in i)
        and i not in (".", "..")
    )


ID_SAMPLES_OK = ["1-23456789", "my-service", "a", "A.b_c~d-e", "x" * 255]
ID_SAMPLES_BAD = ["", ".", "..", "a/b", "a\\b", "a b", "a?b", "a#b", "%2e%2e", "x" * 256]
URL_SAMPLES_OK = ["https://crest.example.com", "https://crest.example.com:8443", "https://10.0.0.1"]
URL_SAMPLES_BAD = [
    "http://crest.example.com",
    "https://crest.example.com/",
    "https://crest.example.com/v1",
    "crest.example.com",
    "https://",
]


class Checker:
    """Collects named property checks; prints them unless quiet."""

    def __init__(self, label: str, quiet: bool = False):
        self.label = label
        self.quiet = quiet
        self.passed = 0
        self.failures: list[str] = []

    def check(self, cond: bool, what: str, detail: object = None) -> bool:
        if cond:
            self.passed += 1
            if not self.quiet:
                print(f"  ok   {self.label}: {what}")
        else:
            msg = f"{self.label}: {what}" + (f" (got {detail!r})" if detail is not None else "")
            self.failures.append(msg)
            if not self.quiet:
                print(f"  FAIL {msg}")
        return cond


# ---------------------------------------------------------------- CloudFormation

SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


def cfn_condition(tpl, name: str, env: dict[str, str]) -> bool:
    """Evaluates a condition made of Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition."""

    def ev(c):
        (fn, arg), = c.items()
        if fn == "Fn::Equals":
            return cfn_eval(arg[0], env, tpl) == cfn_eval(arg[1], env, tpl)
        if fn == "Fn::Not":
            return not ev(arg[0])
        if fn == "Fn::And":
            return all(ev(a) for a in arg)
        if fn == "Fn::Or":
            return any(ev(a) for a in arg)
        if fn == "Condition":
            return ev(tpl["Conditions"][arg])
        raise ValueError(f"cannot evaluate condition {c!r}")

    return ev(tpl["Conditions"][name])


def cfn_eval(value, env: dict[str, str], tpl=None):
    """Evaluates Ref, Fn::Sub, Fn::If, Fn::Join, Fn::Split, Fn::Select and plain
    strings with `env` (name -> value; a list for a CommaDelimitedList)."""
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Fn::If" and tpl is not None:
            return cfn_eval(arg[1] if cfn_condition(tpl, arg[0], env) else arg[2], env, tpl)
        if fn == "Fn::Join":
            return arg[0].join(cfn_eval(v, env, tpl) for v in cfn_list(arg[1], env, tpl))
        if fn == "Fn::Split":
            return cfn_eval(arg[1], env, tpl).split(arg[0])
        if fn == "Fn::Select":
            return cfn_list(arg[1], env, tpl)[int(arg[0])]
        if fn == "Ref":
            if arg not in env:
                raise KeyError(f"Ref {arg} has no example value")
            return env[arg]
        if fn == "Fn::Sub" and isinstance(arg, str):
            def repl(m):
                name = m.group(1)
                if name not in env:
                    raise KeyError(f"${{{name}}} has no example value")
                return env[name]

            return SUB_VAR.sub(repl, arg)
    raise ValueError(f"cannot evaluate {value!r}")


def cfn_list(value, env, tpl=None) -> list:
    """A list literal, or a Ref/function that evaluates to one."""
    if isinstance(value, list):
        return value
    got = cfn_eval(value, env, tpl)
    if not isinstance(got, list):
        raise ValueError(f"not a list: {value!r}")
    return got


def try_eval(value, env, tpl=None):
    try:
        return cfn_eval(value, env, tpl)
    except (KeyError, ValueError, TypeError, IndexError) as e:
        return f"<{e}>"


def cfn_by_type(tpl, typ: str) -> dict[str, dict]:
    return {k: v for k, v in tpl.get("Resources", {}).items() if v.get("Type") == typ}


def check_cfn(tpl, c: Checker) -> None:
    params = tpl.get("Parameters", {})
    res = tpl.get("Resources", {})
    outputs = tpl.get("Outputs", {})

    for p in ("CrestUrl", "StageName", "ScalableTargetDimensionId"):
        c.check(p in params, f"parameter {p} exists")
    c.check(params.get("StageName", {}).get("Default") == "prod", "StageName defaults to prod",
            params.get("StageName", {}).get("Default"))
    url_pat = params.get("CrestUrl", {}).get("AllowedPattern")
    if c.check(bool(url_pat), "CrestUrl has an AllowedPattern"):
        ok = [u for u in URL_SAMPLES_OK if re.fullmatch(url_pat, u)]
        bad = [u for u in URL_SAMPLES_BAD if re.fullmatch(url_pat, u)]
        c.check(ok == URL_SAMPLES_OK, "CrestUrl pattern accepts https://HOST[:PORT]", ok)
        c.check(not bad, "CrestUrl pattern refuses http://, paths and trailing slashes", bad)
    id_pat = params.get("ScalableTargetDimensionId", {}).get("AllowedPattern")
    if c.check(bool(id_pat), "ScalableTargetDimensionId has an AllowedPattern"):
        ok = [i for i in ID_SAMPLES_OK if re.fullmatch(id_pat, i)]
        bad = [i for i in ID_SAMPLES_BAD if re.fullmatch(id_pat, i)]
        c.check(ok == ID_SAMPLES_OK, "dimension id pattern accepts ordinary ids", ok)
        c.check(not bad, "dimension id pattern refuses ., .., /, \\, spaces, URL-special characters", bad)
        c.check(all(crest_accepts_id(i) for i in ok), "every id the pattern accepts is a valid crest id")

    env = {
        "CrestUrl": CREST_URL, "StageName": STAGE, "ScalableTargetDimensionId": DIMENSION_ID,
        "AWS::Region": REGION, "AWS::URLSuffix": URL_SUFFIX, "AWS::StackName": "crest-api",
    }

    apis = cfn_by_type(tpl, "AWS::ApiGateway::RestApi")
    c.check(len(apis) == 1, "one AWS::ApiGateway::RestApi", list(apis))
    api = next(iter(apis), None)
    env[api or "RestApi"] = API_ID

    resources = cfn_by_type(tpl, "AWS::ApiGateway::Resource")
    coll = [k for k, v in resources.items() if v.get("Properties", {}).get("PathPart") == "scalableTargetDimensions"]
    item = [k for k, v in resources.items() if v.get("Properties", {}).get("PathPart") == f"{{{PATH_PARAM}}}"]
    c.check(len(coll) == 1 and len(item) == 1,
            "resources /scalableTargetDimensions and /{scalableTargetDimensionId}", list(resources))
    if coll and item:
        cp = resources[coll[0]]["Properties"]
        ip = resources[item[0]]["Properties"]
        c.check(cp.get("ParentId") == {"Fn::GetAtt": [api, "RootResourceId"]},
                "/scalableTargetDimensions hangs off the API root", cp.get("ParentId"))
        c.check(ip.get("ParentId") == {"Ref": coll[0]},
                "/{scalableTargetDimensionId} hangs off /scalableTargetDimensions", ip.get("ParentId"))

    methods = cfn_by_type(tpl, "AWS::ApiGateway::Method")
    verbs = sorted(m.get("Properties", {}).get("HttpMethod") for m in methods.values())
    c.check(verbs == ["GET", "PATCH"], "exactly the methods GET and PATCH", verbs)
    for name, m in sorted(methods.items()):
        p = m.get("Properties", {})
        verb = p.get("HttpMethod")
        integ = p.get("Integration", {})
        c.check(item != [] and p.get("ResourceId") == {"Ref": item[0]},
                f"{verb} is on /scalableTargetDimensions/{{scalableTargetDimensionId}}", p.get("ResourceId"))
        c.check(p.get("AuthorizationType") == "AWS_IAM", f"{verb} uses AuthorizationType AWS_IAM (SigV4 from AAS)",
                p.get("AuthorizationType"))
        c.check(p.get("RequestParameters", {}).get(METHOD_PARAM) is True,
                f"{verb} declares the path parameter {PATH_PARAM}", p.get("RequestParameters"))
        c.check(integ.get("Type") in ("HTTP_PROXY", "HTTP"), f"{verb} integration is HTTP(_PROXY)", integ.get("Type"))
        c.check(integ.get("IntegrationHttpMethod") == verb, f"{verb} integration forwards as {verb}",
                integ.get("IntegrationHttpMethod"))
        uri = try_eval(integ.get("Uri"), env)
        c.check(uri == EXPECTED_INTEGRATION_URI, f"{verb} integration URI is ${{CrestUrl}}/v1/scalableTargetDimensions/{{{PATH_PARAM}}}", uri)
        c.check(integ.get("RequestParameters", {}).get(INTEGRATION_PARAM) == METHOD_PARAM,
                f"{verb} integration maps the method path parameter into the URI", integ.get("RequestParameters"))
        c.check(uri.replace(f"{{{PATH_PARAM}}}", DIMENSION_ID) == EXPECTED_BACKEND_URL,
                f"{verb} for id {DIMENSION_ID} reaches crest at {EXPECTED_BACKEND_URL}")

    certs = cfn_by_type(tpl, "AWS::ApiGateway::ClientCertificate")
    c.check(len(certs) == 1, "one AWS::ApiGateway::ClientCertificate", list(certs))
    cert = next(iter(certs), None)
    env[cert or "ClientCertificate"] = "abc123"

    deployments = cfn_by_type(tpl, "AWS::ApiGateway::Deployment")
    c.check(len(deployments) == 1, "one AWS::ApiGateway::Deployment", list(deployments))
    dep_name = next(iter(deployments), None)
    if dep_name:
        deps = deployments[dep_name].get("DependsOn", [])
        deps = [deps] if isinstance(deps, str) else list(deps)
        c.check(set(methods) <= set(deps), "the deployment waits for both methods", deps)

    stages = cfn_by_type(tpl, "AWS::ApiGateway::Stage")
    c.check(len(stages) == 1, "one AWS::ApiGateway::Stage", list(stages))
    stage_name = next(iter(stages), None)
    env[stage_name or "Stage"] = STAGE
    if stage_name:
        sp = stages[stage_name].get("Properties", {})
        c.check(sp.get("DeploymentId") == {"Ref": dep_name}, "the stage serves the deployment", sp.get("DeploymentId"))
        c.check(sp.get("StageName") == {"Ref": "StageName"}, "the stage is named by the StageName parameter",
                sp.get("StageName"))
        got = try_eval(sp.get("ClientCertificateId"), {**env, "ClientCertificateIdOverride": ""}, tpl)
        c.check(got == "abc123", "the stage presents the stack's ClientCertificate to crest (ClientCertificateId)", got)
        got = try_eval(sp.get("ClientCertificateId"), {**env, "ClientCertificateIdOverride": "newid9"}, tpl)
        c.check(got == "newid9", "with ClientCertificateIdOverride (rotation) the stage presents that certificate", got)

    targets = cfn_by_type(tpl, "AWS::ApplicationAutoScaling::ScalableTarget")
    c.check(len(targets) == 1, "one AWS::ApplicationAutoScaling::ScalableTarget", list(targets))
    target = next(iter(targets), None)
    if target:
        tp = targets[target].get("Properties", {})
        c.check(tp.get("ServiceNamespace") == SERVICE_NAMESPACE, "scalable target namespace is custom-resource",
                tp.get("ServiceNamespace"))
        c.check(tp.get("ScalableDimension") == SCALABLE_DIMENSION,
                "scalable dimension is custom-resource:ResourceType:Property", tp.get("ScalableDimension"))
        rid = try_eval(tp.get("ResourceId"), env)
        c.check(rid == EXPECTED_RESOURCE_ID, "scalable target ResourceId is the stage's invoke URL of the dimension", rid)
        c.check("${" + (stage_name or "Stage") + "}" in str(tp.get("ResourceId")),
                "the ResourceId references the Stage resource, so AAS registers only once the stage exists")
        c.check("RoleARN" not in tp, "no RoleARN: AAS uses its service-linked role for custom resources")
        c.check(all(k in tp for k in ("MinCapacity", "MaxCapacity")), "min and max capacity are set")
        c.check(bool(targets[target].get("Condition")), "registration is conditional (second step, after pinning)")

    policies = cfn_by_type(tpl, "AWS::ApplicationAutoScaling::ScalingPolicy")
    c.check(len(policies) == 1, "one AWS::ApplicationAutoScaling::ScalingPolicy", list(policies))
    for name, pol in policies.items():
        pp = pol.get("Properties", {})
        c.check(pp.get("PolicyType") == "TargetTrackingScaling", "the policy is TargetTrackingScaling", pp.get("PolicyType"))
        c.check(pp.get("ScalingTargetId") == {"Ref": target}, "the policy scales the scalable target",
                pp.get("ScalingTargetId"))
        cms = pp.get("TargetTrackingScalingPolicyConfiguration", {}).get("CustomizedMetricSpecification", {})
        mn, ns = cms.get("MetricName"), cms.get("Namespace")
        c.check(isinstance(mn, dict) and mn.get("Ref") in params, "the metric name is a parameter", mn)
        c.check(isinstance(ns, dict) and ns.get("Ref") in params, "the metric namespace is a parameter", ns)
        c.check(pol.get("Condition") == (targets.get(target, {}).get("Condition") if target else None),
                "the policy has the same condition as the target")

    for override in ("", "newid9"):
        e = {**env, "ClientCertificateIdOverride": override}
        out_cert = try_eval(outputs.get("ClientCertificateId", {}).get("Value"), e, tpl)
        stage_cert = try_eval(stages.get(stage_name, {}).get("Properties", {}).get("ClientCertificateId"), e, tpl)
        c.check(out_cert == stage_cert == (override or "abc123"),
                f"output ClientCertificateId (what fetch-client-cert.sh --stack reads) is the stage's certificate"
                f" (override {override!r})", (out_cert, stage_cert))
    out_rid = try_eval(outputs.get("CustomResourceId", {}).get("Value"), env)
    c.check(out_rid == EXPECTED_RESOURCE_ID, "output CustomResourceId is the AAS resource ID", out_rid)


# ---------------------------------------------------------------- Terraform


def unq(s):
    if isinstance(s, str) and len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def norm(x):
    """python-hcl2 8 keeps the quotes of strings and labels; drop them."""
    if isinstance(x, dict):
        return {unq(k): norm(v) for k, v in x.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(x, list):
        return [norm(v) for v in x]
    return unq(x)


def load_tf(tf_dir: pathlib.Path) -> dict:
    merged = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {}, "module": {},
              "provider": [], "terraform": [], "files": []}
    for f in sorted(tf_dir.glob("*.tf")):
        with f.open() as fh:
            doc = norm(hcl2.load(fh))
        merged["files"].append(f.name)
        for kind in ("resource", "data"):
            for block in doc.get(kind, []):
                for typ, named in block.items():
                    for name, body in named.items():
                        merged[kind].setdefault(typ, {})[name] = body
        merged["provider"].extend(doc.get("provider", []))
        for kind in ("variable", "output", "module"):
            for block in doc.get(kind, []):
                merged[kind].update(block)
        for block in doc.get("locals", []):
            merged["locals"].update(block)
        merged["terraform"].extend(doc.get("terraform", []))
    return merged


REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.\[\]]*)\}")


def tf_eval(value, tf: dict, attrs: dict[str, str], depth: int = 0):
    """Resolves ${var.x}, ${local.x} and known resource attributes in a string."""
    if depth > 10:
        raise ValueError("reference loop")
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    m = re.fullmatch(r"\$\{coalesce\(([^()]*)\)\}", value)
    if m:  # first argument that is neither null nor ""
        for arg in (a.strip() for a in m.group(1).split(",")):
            if arg.startswith("var.") and arg not in attrs and tf["variable"].get(arg[4:], {}).get("default") is None:
                continue
            v = tf_eval("${" + arg + "}", tf, attrs, depth + 1)
            if v != "":
                return v
        raise ValueError("coalesce: every argument is null or empty")

    def repl(m):
        ref = m.group(1)
        if ref.startswith("var."):
            v = tf["variable"].get(ref[4:], {})
            if ref in attrs:
                return attrs[ref]
            if "default" not in v:
                raise KeyError(f"{ref} has no default and no example value")
            return str(v["default"])
        if ref.startswith("local."):
            if ref[6:] not in tf["locals"]:
                raise KeyError(f"{ref} undefined")
            return tf_eval(tf["locals"][ref[6:]], tf, attrs, depth + 1)
        if ref in attrs:
            return attrs[ref]
        raise KeyError(f"${{{ref}}} has no example value")

    return REF.sub(repl, value)


def tf_try(value, tf, attrs):
    try:
        return tf_eval(value, tf, attrs)
    except (KeyError, ValueError) as e:
        return f"<{e}>"


def one_block(v):
    """A nested block parses as a list of one dict."""
    if isinstance(v, list) and len(v) == 1 and isinstance(v[0], dict):
        return v[0]
    return v if isinstance(v, dict) else {}


def check_tf(tf: dict, c: Checker) -> None:
    R = tf["resource"]
    for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        c.check(f in tf["files"], f"{f} exists")
    providers = one_block(one_block(tf["terraform"]).get("required_providers", [])) if tf["terraform"] else {}
    c.check(providers.get("aws", {}).get("source") == "hashicorp/aws", "versions.tf requires hashicorp/aws",
            providers.get("aws"))

    var = tf["variable"]
    for v in ("crest_url", "stage_name", "scalable_target_dimension_id", "metric_name", "metric_namespace"):
        c.check(v in var, f"variable {v} exists")
    c.check("default" not in var.get("crest_url", {}), "crest_url is required (no default)")
    c.check(var.get("stage_name", {}).get("default") == "prod", "stage_name defaults to prod",
            var.get("stage_name", {}).get("default"))
    cond = one_block(var.get("crest_url", {}).get("validation", [])).get("condition", "")
    m = re.search(r'regex\("(.*)", var\.crest_url\)', cond.replace('\\\\', '\\'))
    if c.check(bool(m), "crest_url has a regex validation", cond):
        pat = m.group(1)
        ok = [u for u in URL_SAMPLES_OK if re.fullmatch(pat, u)]
        bad = [u for u in URL_SAMPLES_BAD if re.fullmatch(pat, u)]
        c.check(ok == URL_SAMPLES_OK, "crest_url validation accepts https://HOST[:PORT]", ok)
        c.check(not bad, "crest_url validation refuses http://, paths and trailing slashes", bad)
    cond = one_block(var.get("scalable_target_dimension_id", {}).get("validation", [])).get("condition", "")
    m = re.search(r'regex\("(.*)", var\.scalable_target_dimension_id\)', cond.replace('\\\\', '\\'))
    if c.check(bool(m), "scalable_target_dimension_id has a regex validation", cond):
        dots = re.search(r'!\s*contains\(\[\s*"\."\s*,\s*"\.\."\s*\]', cond) is not None

        def accepted(i):
            return re.fullmatch(m.group(1), i) is not None and not (dots and i in (".", ".."))

        ok = [i for i in ID_SAMPLES_OK if accepted(i)]
        bad = [i for i in ID_SAMPLES_BAD if accepted(i)]
        c.check(ok == ID_SAMPLES_OK, "dimension id validation accepts ordinary ids", ok)
        c.check(not bad, "dimension id validation refuses ., .., /, \\, spaces, URL-special characters", bad)
        c.check(all(crest_accepts_id(i) for i in ok), "every id the validation accepts is a valid crest id")

    apis = R.get("aws_api_gateway_rest_api", {})
    c.check(len(apis) == 1, "one aws_api_gateway_rest_api", list(apis))
    api = next(iter(apis), "this")
    api_ref = f"${{aws_api_gateway_rest_api.{api}.id}}"

    res = R.get("aws_api_gateway_resource", {})
    coll = [k for k, v in res.items() if v.get("path_part") == "scalableTargetDimensions"]
    item = [k for k, v in res.items() if v.get("path_part") == f"{{{PATH_PARAM}}}"]
    c.check(len(coll) == 1 and len(item) == 1,
            "resources /scalableTargetDimensions and /{scalableTargetDimensionId}", list(res))
    if coll and item:
        c.check(res[coll[0]].get("parent_id") == f"${{aws_api_gateway_rest_api.{api}.root_resource_id}}",
                "/scalableTargetDimensions hangs off the API root", res[coll[0]].get("parent_id"))
        c.check(res[item[0]].get("parent_id") == f"${{aws_api_gateway_resource.{coll[0]}.id}}",
                "/{scalableTargetDimensionId} hangs off /scalableTargetDimensions", res[item[0]].get("parent_id"))
    item_ref = f"${{aws_api_gateway_resource.{item[0]}.id}}" if item else None

    methods = R.get("aws_api_gateway_method", {})
    verbs = sorted(m.get("http_method") for m in methods.values())
    c.check(verbs == ["GET", "PATCH"], "exactly the methods GET and PATCH", verbs)
    integrations = R.get("aws_api_gateway_integration", {})
    c.check(len(integrations) == len(methods), "one integration per method", list(integrations))
    for name, m in sorted(methods.items()):
        verb = m.get("http_method")
        c.check(m.get("rest_api_id") == api_ref and m.get("resource_id") == item_ref,
                f"{verb} is on /scalableTargetDimensions/{{scalableTargetDimensionId}}")
        c.check(m.get("authorization") == "AWS_IAM", f"{verb} uses authorization AWS_IAM (SigV4 from AAS)",
                m.get("authorization"))
        c.check(m.get("request_parameters", {}).get(METHOD_PARAM) is True,
                f"{verb} declares the path parameter {PATH_PARAM}", m.get("request_parameters"))
        mine = [i for i in integrations.values()
                if i.get("http_method") in (f"${{aws_api_gateway_method.{name}.http_method}}", verb)
                and i.get("resource_id") == item_ref]
        if not c.check(len(mine) == 1, f"{verb} has one integration on the same resource", len(mine)):
            continue
        integ = mine[0]
        c.check(integ.get("type") == "HTTP_PROXY", f"{verb} integration is HTTP_PROXY", integ.get("type"))
        c.check(integ.get("integration_http_method") == verb, f"{verb} integration forwards as {verb}",
                integ.get("integration_http_method"))
        uri = tf_try(integ.get("uri"), tf, {"var.crest_url": CREST_URL})
        c.check(uri == EXPECTED_INTEGRATION_URI, f"{verb} integration uri is <crest_url>/v1/scalableTargetDimensions/{{{PATH_PARAM}}}", uri)
        c.check(integ.get("request_parameters", {}).get(INTEGRATION_PARAM) == METHOD_PARAM,
                f"{verb} integration maps the method path parameter into the uri", integ.get("request_parameters"))
        c.check(uri.replace(f"{{{PATH_PARAM}}}", DIMENSION_ID) == EXPECTED_BACKEND_URL,
                f"{verb} for id {DIMENSION_ID} reaches crest at {EXPECTED_BACKEND_URL}")

    certs = R.get("aws_api_gateway_client_certificate", {})
    c.check(len(certs) == 1, "one aws_api_gateway_client_certificate", list(certs))
    cert = next(iter(certs), "this")

    deps = R.get("aws_api_gateway_deployment", {})
    c.check(len(deps) == 1, "one aws_api_gateway_deployment", list(deps))
    dep = next(iter(deps), "this")
    d = deps.get(dep, {})
    c.check("triggers" in d, "the deployment has redeployment triggers (changes reach the stage)")
    c.check(one_block(d.get("lifecycle", [])).get("create_before_destroy") is True,
            "the deployment is create_before_destroy (no gap in service on redeploy)")

    stages = R.get("aws_api_gateway_stage", {})
    c.check(len(stages) == 1, "one aws_api_gateway_stage", list(stages))
    stage = next(iter(stages), "this")
    s = stages.get(stage, {})
    c.check(s.get("deployment_id") == f"${{aws_api_gateway_deployment.{dep}.id}}", "the stage serves the deployment",
            s.get("deployment_id"))
    c.check(s.get("stage_name") == "${var.stage_name}", "the stage is named by var.stage_name", s.get("stage_name"))
    attrs = {
        "var.crest_url": CREST_URL,
        f"aws_api_gateway_stage.{stage}.invoke_url": f"https://{API_ID}.execute-api.{REGION}.{URL_SUFFIX}/{STAGE}",
        f"aws_api_gateway_client_certificate.{cert}.id": "abc123",
    }
    got = tf_try(s.get("client_certificate_id"), tf, attrs)
    c.check(got == "abc123", "the stage presents the module's client certificate to crest (client_certificate_id)", got)
    got = tf_try(s.get("client_certificate_id"), tf, {**attrs, "var.client_certificate_id": "newid9"})
    c.check(got == "newid9", "with var.client_certificate_id (rotation) the stage presents that certificate", got)
    targets = R.get("aws_appautoscaling_target", {})
    c.check(len(targets) == 1, "one aws_appautoscaling_target", list(targets))
    target = next(iter(targets), "this")
    t = targets.get(target, {})
    c.check(t.get("service_namespace") == SERVICE_NAMESPACE, "scalable target namespace is custom-resource",
            t.get("service_namespace"))
    c.check(t.get("scalable_dimension") == SCALABLE_DIMENSION,
            "scalable dimension is custom-resource:ResourceType:Property", t.get("scalable_dimension"))
    targets_expr = tf["locals"].get("scalable_targets", "")
    c.check(t.get("for_each") == "${local.scalable_targets}" and t.get("resource_id") == "${each.value.resource_id}",
            "one scalable target per entry of local.scalable_targets (for_each), with that entry's resource_id",
            (t.get("for_each"), t.get("resource_id")))
    m = re.search(r'resource_id\s*=\s*"([^"]*)"', targets_expr)
    rid = tf_try(m.group(1).replace("${id}", DIMENSION_ID), tf, attrs) if m else "<no resource_id in local.scalable_targets>"
    c.check(rid == EXPECTED_RESOURCE_ID, "scalable target resource_id is the stage's invoke URL of the dimension", rid)
    c.check("role_arn" not in t, "no role_arn: AAS uses its service-linked role for custom resources")
    c.check(t.get("min_capacity") == "${each.value.min_capacity}" and t.get("max_capacity") == "${each.value.max_capacity}",
            "min and max capacity are set per entry")
    single = "var.register_scalable_target ? {(var.scalable_target_dimension_id) = {}} : {}"
    c.check(single in targets_expr and "var.scalable_targets" in targets_expr
            and var.get("register_scalable_target", {}).get("default") is False
            and var.get("scalable_targets", {}).get("default") == {},
            "registration is optional: the map holds scalable_target_dimension_id only with register_scalable_target"
            " (second step after pinning) plus var.scalable_targets, both empty by default")
    for a in ("min_capacity", "max_capacity", "target_value", "metric_name", "metric_namespace", "metric_statistic",
              "metric_unit", "scale_in_cooldown", "scale_out_cooldown"):
        c.check(f"{a} = coalesce(try(t.{a}, null), var.{a})" in targets_expr,
                f"an entry's {a} falls back to var.{a}")

    pols = R.get("aws_appautoscaling_policy", {})
    c.check(len(pols) == 1, "one aws_appautoscaling_policy", list(pols))
    for name, p in pols.items():
        c.check(p.get("policy_type") == "TargetTrackingScaling", "the policy is TargetTrackingScaling", p.get("policy_type"))
        for a in ("resource_id", "scalable_dimension", "service_namespace"):
            c.check(p.get(a) == f"${{aws_appautoscaling_target.{target}[each.key].{a}}}",
                    f"the policy's {a} is its own target's", p.get(a))
        cfg = one_block(p.get("target_tracking_scaling_policy_configuration", []))
        cms = one_block(cfg.get("customized_metric_specification", []))
        c.check(cms.get("metric_name") == "${each.value.metric_name}", "the metric name is the entry's metric_name",
                cms.get("metric_name"))
        c.check(cms.get("namespace") == "${each.value.metric_namespace}",
                "the metric namespace is the entry's metric_namespace", cms.get("namespace"))
        c.check(p.get("for_each") == t.get("for_each"), "one policy per target (the same for_each)")

    out = tf["output"]
    for extra in ({}, {"var.client_certificate_id": "newid9"}):
        a = {**attrs, **extra}
        o, st = tf_try(out.get("client_certificate_id", {}).get("value"), tf, a), tf_try(s.get("client_certificate_id"), tf, a)
        c.check(o == st and not o.startswith("<"),
                f"output client_certificate_id (what fetch-client-cert.sh --terraform-dir reads) is the stage's certificate"
                f" ({'override' if extra else 'no override'})", (o, st))
    orid = tf_try(out.get("custom_resource_id", {}).get("value"), tf, attrs)
    c.check(orid == EXPECTED_RESOURCE_ID, "output custom_resource_id is the AAS resource ID", orid)


def check_same(tpl, tf, c: Checker) -> None:
    """The two implementations agree on their defaults."""
    p = tpl.get("Parameters", {})
    v = tf["variable"]
    pairs = [
        ("StageName", "stage_name"), ("ScalableTargetDimensionId", "scalable_target_dimension_id"),
        ("MinCapacity", "min_capacity"), ("MaxCapacity", "max_capacity"), ("TargetValue", "target_value"),
        ("MetricName", "metric_name"), ("MetricNamespace", "metric_namespace"),
        ("MetricStatistic", "metric_statistic"), ("MetricUnit", "metric_unit"),
        ("ScaleInCooldown", "scale_in_cooldown"), ("ScaleOutCooldown", "scale_out_cooldown"),
        ("Exposure", "exposure"), ("CrestTargetType", "crest_target_type"), ("CrestPort", "crest_port"),
        ("DeregistrationDelay", "deregistration_delay"),
    ]
    for cp, tv in pairs:
        a, b = p.get(cp, {}).get("Default"), v.get(tv, {}).get("default")
        c.check(str(a) == str(b), f"{cp} and {tv} have the same default", (a, b))


# ---------------------------------------------------------------- negative controls


def cfn_mutations(tpl):
    def methods(t):
        return [r for r in t["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"]

    def first(t, typ):
        return next(r for r in t["Resources"].values() if r["Type"] == typ)

    def m1(t):
        methods(t)[0]["Properties"]["AuthorizationType"] = "NONE"

    def m2(t):
        i = methods(t)[1]["Properties"]["Integration"]
        i["Uri"] = {"Fn::Sub": "${CrestUrl}/scalableTargetDimensions/{scalableTargetDimensionId}"}

    def m3(t):
        del methods(t)[0]["Properties"]["Integration"]["RequestParameters"]

    def m4(t):
        del first(t, "AWS::ApiGateway::Stage")["Properties"]["ClientCertificateId"]

    def m5(t):
        first(t, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]["ScalableDimension"] = "custom-resource:Foo"

    def m6(t):
        p = first(t, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
        p["ResourceId"] = {"Fn::Sub": p["ResourceId"]["Fn::Sub"].replace("/scalableTargetDimensions/", "/v1/scalableTargetDimensions/")}

    def m7(t):
        first(t, "AWS::ApplicationAutoScaling::ScalingPolicy")["Properties"]["PolicyType"] = "StepScaling"

    def m8(t):
        methods(t)[1]["Properties"]["HttpMethod"] = "POST"

    return [("GET without AWS_IAM", m1), ("integration URI without /v1", m2),
            ("no path parameter mapping", m3), ("stage without ClientCertificateId", m4),
            ("wrong scalable dimension", m5), ("resource ID with the backend's /v1 path", m6),
            ("step scaling instead of target tracking", m7), ("POST instead of PATCH", m8)]


def tf_mutations(tf):
    R = lambda t: t["resource"]  # noqa: E731

    def m1(t):
        next(iter(R(t)["aws_api_gateway_method"].values()))["authorization"] = "NONE"

    def m2(t):
        t["locals"]["crest_integration_uri"] = "${var.crest_url}/scalableTargetDimensions/{scalableTargetDimensionId}"

    def m3(t):
        next(iter(R(t)["aws_api_gateway_integration"].values()))["type"] = "HTTP"

    def m4(t):
        del next(iter(R(t)["aws_api_gateway_stage"].values()))["client_certificate_id"]

    def m5(t):
        next(iter(R(t)["aws_appautoscaling_target"].values()))["service_namespace"] = "ecs"

    def m8(t):
        target = next(iter(R(t)["aws_appautoscaling_target"].values()))
        del target["for_each"]
        target["count"] = "${var.register_scalable_target ? 1 : 0}"

    def m9(t):
        t["locals"]["scalable_targets"] = t["locals"]["scalable_targets"].replace(", var.scalable_targets)", ")")

    def m6(t):
        next(iter(R(t)["aws_appautoscaling_policy"].values()))["policy_type"] = "StepScaling"

    def m7(t):
        del next(iter(R(t)["aws_api_gateway_integration"].values()))["request_parameters"]

    return [("a method without AWS_IAM", m1), ("integration uri without /v1", m2),
            ("HTTP instead of HTTP_PROXY", m3), ("stage without client_certificate_id", m4),
            ("namespace ecs", m5), ("step scaling", m6), ("no path parameter mapping", m7),
            ("count instead of for_each", m8), ("the map without var.scalable_targets", m9)]


def read_cfn(path: pathlib.Path):
    tpl, errors = decode(str(path))
    if errors or tpl is None:
        raise SystemExit(f"cannot read {path}: {errors}")
    return tpl


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    import check_readme  # both import this module's helpers
    import check_variants

    aws = pathlib.Path(argv[1])
    tpl = read_cfn(aws / "cloudformation" / "api-gateway.yaml")
    many = read_cfn(aws / "cloudformation" / "scalable-targets.yaml")
    tf = load_tf(aws / "terraform")
    multi = load_tf(aws / "terraform" / "examples" / "multi-region")
    readme = (aws / "README.md").read_text()
    suites = [
        ("cloudformation", check_cfn, tpl, cfn_mutations(tpl)),
        ("terraform", check_tf, tf, tf_mutations(tf)),
        ("cfn=tf", lambda both, c: check_same(*both, c), (tpl, tf), []),
        *check_variants.suites(tpl, many, tf, multi, readme),
        *check_readme.suites(tpl, many, tf, readme, (aws / "terraform" / "README.md").read_text()),
    ]

    total_pass = total_fail = 0
    for label, fn, base, _ in suites:
        print(f"{label}:")
        c = Checker(label)
        fn(base, c)
        total_pass += c.passed
        total_fail += len(c.failures)

    print("negative controls (each broken copy must fail the checks above):")
    for label, fn, base, muts in suites:
        for what, mutate in muts:
            broken = copy.deepcopy(dict(base)) if isinstance(base, dict) else copy.deepcopy(base)
            broken = mutate(broken) or broken  # text inputs are returned, not changed in place
            c = Checker(label, quiet=True)
            fn(broken, c)
            if c.failures:
                total_pass += 1
                print(f"  ok   {label} with {what} is caught: {c.failures[0]}")
            else:
                total_fail += 1
                print(f"  FAIL {label} with {what} passes the checks")

    print(f"templates: {total_pass} passed, {total_fail} failed")
    return 0 if total_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
