"""The variants beyond one public region, for check_templates.py.

* private: API Gateway -> VPC link -> internal NLB -> crest (Exposure /
  exposure), and the public variant creating none of it;
* many dimensions: Fn::ForEach in scalable-targets.yaml, for_each in the
  Terraform module (the for_each itself is asserted in check_templates.py);
* multi-region: the example root module, one module instance per region with
  its own provider;
* IAM: execute-api:Invoke for GET and PATCH for AAS's service-linked role, in
  both resource policies and in the README's copy-paste policies.

Each suite is (label, check function, parsed input, mutations); every
mutation breaks one property and must make its suite fail.
"""

from __future__ import annotations

import fnmatch
import json
import re

from check_templates import (API_ID, DIMENSION_ID, EXPECTED_RESOURCE_ID, REGION, SCALABLE_DIMENSION,
                             SERVICE_NAMESPACE, STAGE, URL_SUFFIX, Checker, cfn_by_type, cfn_condition,
                             one_block, tf_try, try_eval)

ACCOUNT = "111122223333"
# crest's drain (issue 18): readiness fails first, serving goes on for the
# shutdown delay; the examples use CREST_SHUTDOWN_DELAY=15s.
CREST_SHUTDOWN_DELAY = 15
AAS_ROLE_SUFFIX = (":role/aws-service-role/custom-resource.application-autoscaling.amazonaws.com/"
                   "AWSServiceRoleForApplicationAutoScaling_CustomResource")
EXECUTION_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}"
RESOURCE_ID_PREFIX = EXPECTED_RESOURCE_ID[: -len(DIMENSION_ID)]
ELB_TYPES = ("AWS::ElasticLoadBalancingV2::LoadBalancer", "AWS::ElasticLoadBalancingV2::TargetGroup",
             "AWS::ElasticLoadBalancingV2::Listener", "AWS::ApiGateway::VpcLink")
NO_VALUE = object()


# ---------------------------------------------------------------- IAM, shared


def invoke_verbs(statements: list[dict], principal_arn: str | None) -> set[str]:
    """The HTTP methods on /scalableTargetDimensions/ID of stage STAGE that
    the Allow statements grant execute-api:Invoke to `principal_arn` (None:
    statements without a principal, an identity policy)."""
    verbs = set()
    for verb in ("GET", "PATCH", "POST", "PUT", "DELETE"):
        arn = f"{EXECUTION_ARN}/{STAGE}/{verb}/scalableTargetDimensions/{DIMENSION_ID}"
        for st in statements:
            actions = st.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            resources = st.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            resources = [r.replace("execute-api:/", f"{EXECUTION_ARN}/", 1) if r.startswith("execute-api:/") else r
                         for r in resources]
            if st.get("Effect") != "Allow" or not any(a in ("execute-api:Invoke", "execute-api:*") for a in actions):
                continue
            if not any(fnmatch.fnmatchcase(arn, r) for r in resources):
                continue
            if principal_arn is not None:
                cond = st.get("Condition", {}).get("ArnEquals", {}).get("aws:PrincipalArn")
                if cond != principal_arn:
                    continue
            verbs.add(verb)
    return verbs


def check_invoke(c: Checker, statements: list[dict], principal_arn: str | None, where: str) -> None:
    verbs = invoke_verbs(statements, principal_arn)
    who = "AAS's service-linked role" if principal_arn else "the identity"
    c.check({"GET", "PATCH"} <= verbs, f"{where} allows {who} execute-api:Invoke for GET and PATCH", sorted(verbs))
    c.check(not verbs - {"GET", "PATCH"}, f"{where} allows no other method", sorted(verbs))


# ---------------------------------------------------------------- CloudFormation: private


def cfn_env(override: dict | None = None) -> dict:
    env = {
        "CrestUrl": "https://crest.example.com", "StageName": STAGE, "ScalableTargetDimensionId": DIMENSION_ID,
        "AWS::Region": REGION, "AWS::URLSuffix": URL_SUFFIX, "AWS::StackName": "crest-api",
        "AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::NoValue": NO_VALUE,
        "ClientCertificateIdOverride": "", "Exposure": "private", "CrestTargets": ["i-1", "i-2"],
    }
    return {**env, **(override or {})}


def check_cfn_private(tpl, c: Checker) -> None:
    params = tpl.get("Parameters", {})
    res = tpl.get("Resources", {})
    c.check(params.get("Exposure", {}).get("AllowedValues") == ["public", "private"]
            and params.get("Exposure", {}).get("Default") == "public",
            "parameter Exposure: public (default) or private", params.get("Exposure"))

    def cond_of(name):
        cond = res[name].get("Condition")
        return cond_true(cond, cfn_env()), cond_true(cond, cfn_env({"Exposure": "public"}))

    def cond_true(cond, env):
        return cond is None or cfn_condition(tpl, cond, env)

    private_only = [k for k, v in res.items() if v.get("Type") in ELB_TYPES]
    c.check(bool(private_only) and all(cond_of(k) == (True, False) for k in private_only),
            "the NLB, its target group, listener and the VPC link exist only with Exposure private", private_only)
    internet = [k for k, v in res.items()
                if v.get("Properties", {}).get("Scheme") not in (None, "internal")
                or v.get("Type") in ("AWS::EC2::EIP", "AWS::EC2::InternetGateway")]
    c.check(not internet, "no internet-facing load balancer, Elastic IP or internet gateway", internet)

    nlbs = cfn_by_type(tpl, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    c.check(len(nlbs) == 1, "one load balancer", list(nlbs))
    nlb = next(iter(nlbs), None)
    np = nlbs.get(nlb, {}).get("Properties", {})
    c.check(np.get("Type") == "network" and np.get("Scheme") == "internal", "the load balancer is an internal NLB",
            (np.get("Type"), np.get("Scheme")))
    c.check(np.get("Subnets") == {"Ref": "SubnetIds"}, "the NLB is in the SubnetIds", np.get("Subnets"))

    tgs = cfn_by_type(tpl, "AWS::ElasticLoadBalancingV2::TargetGroup")
    tg = next(iter(tgs), None)
    tp = tgs.get(tg, {}).get("Properties", {})
    c.check(tp.get("Protocol") == "TCP" and tp.get("HealthCheckProtocol") == "HTTPS"
            and tp.get("HealthCheckPath") == "/readyz",
            "target group: TCP to crest, health check HTTPS GET /readyz",
            (tp.get("Protocol"), tp.get("HealthCheckProtocol"), tp.get("HealthCheckPath")))
    attrs = {a.get("Key"): a.get("Value") for a in tp.get("TargetGroupAttributes", [])}
    delay = attrs.get("deregistration_delay.timeout_seconds")
    default = params.get(delay.get("Ref"), {}).get("Default") if isinstance(delay, dict) else delay
    c.check(default is not None and CREST_SHUTDOWN_DELAY < int(default) <= CREST_SHUTDOWN_DELAY + 15,
            f"deregistration delay (default) a little above crest's shutdown delay {CREST_SHUTDOWN_DELAY} s", default)
    c.check(attrs.get("target_health_state.unhealthy.connection_termination.enabled") == "false"
            and attrs.get("target_health_state.unhealthy.draining_interval_seconds") == delay,
            "a crest that fails /readyz keeps its connections for the same delay (no reset: its drain)",
            {k: v for k, v in attrs.items() if k.startswith("target_health_state")})
    detect = int(tp.get("HealthCheckIntervalSeconds", 30)) * int(tp.get("UnhealthyThresholdCount", 3))
    c.check(detect <= CREST_SHUTDOWN_DELAY,
            f"the NLB sees /readyz fail (interval x unhealthy threshold = {detect} s) within the shutdown delay")
    def pick(v, env):
        if isinstance(v, dict) and list(v) == ["Fn::If"]:
            cond, yes, no = v["Fn::If"]
            return pick(yes if cfn_condition(tpl, cond, env) else no, env)
        return v

    for n in (["i-1", "i-2"], ["i-1", "i-2", "i-3", "i-4"], [""]):
        env = cfn_env({"CrestTargets": n})
        got = []
        for t in tp.get("Targets", []):
            v = pick(t, env)
            if v != {"Ref": "AWS::NoValue"}:
                got.append(try_eval(v.get("Id"), env, tpl) if isinstance(v, dict) else v)
        want = [i for i in n if i]
        c.check(got == want, f"CrestTargets {','.join(n) or '(empty)'} registers exactly {want}", got)

    listeners = cfn_by_type(tpl, "AWS::ElasticLoadBalancingV2::Listener")
    c.check(len(listeners) == 1, "one listener", list(listeners))
    lp = next(iter(listeners.values()), {}).get("Properties", {})
    c.check(lp.get("Protocol") == "TCP" and lp.get("Port") == 443 and lp.get("LoadBalancerArn") == {"Ref": nlb},
            "the NLB listener is TCP 443 (TLS passes through to crest, which pins the client certificate)",
            (lp.get("Protocol"), lp.get("Port")))
    c.check([a.get("TargetGroupArn") for a in lp.get("DefaultActions", [])] == [{"Ref": tg}],
            "the listener forwards to the target group")

    links = cfn_by_type(tpl, "AWS::ApiGateway::VpcLink")
    link = next(iter(links), None)
    c.check(len(links) == 1 and links[link].get("Properties", {}).get("TargetArns") == [{"Ref": nlb}],
            "one VPC link, to the NLB", list(links))

    for m in cfn_by_type(tpl, "AWS::ApiGateway::Method").values():
        verb = m["Properties"].get("HttpMethod")
        integ = m["Properties"].get("Integration", {})
        priv_env = cfn_env({str(link): "vl0123"})
        priv = (try_eval(integ.get("ConnectionType"), priv_env, tpl), try_eval(integ.get("ConnectionId"), priv_env, tpl))
        pub_env = cfn_env({"Exposure": "public", str(link): "vl0123"})
        pub = (try_eval(integ.get("ConnectionType"), pub_env, tpl), try_eval(integ.get("ConnectionId"), pub_env, tpl))
        c.check(priv == ("VPC_LINK", "vl0123"), f"{verb}: Exposure private connects through the VPC link", priv)
        c.check(pub == ("INTERNET", NO_VALUE), f"{verb}: Exposure public connects over the internet", pub)


def check_cfn_iam(tpl, c: Checker) -> None:
    apis = cfn_by_type(tpl, "AWS::ApiGateway::RestApi")
    policy = next(iter(apis.values()), {}).get("Properties", {}).get("Policy", {})
    env = cfn_env()
    statements = []
    for st in policy.get("Statement", []):
        st = dict(st)
        res = st.get("Resource", [])
        st["Resource"] = [try_eval(r, env) for r in ([res] if not isinstance(res, list) else res)]
        cond = st.get("Condition", {}).get("ArnEquals", {})
        st["Condition"] = {"ArnEquals": {k: try_eval(v, env) for k, v in cond.items()}}
        statements.append(st)
    check_invoke(c, statements, f"arn:aws:iam::{ACCOUNT}{AAS_ROLE_SUFFIX}", "the API's resource policy")


def cfn_private_mutations(tpl):
    def res(t, typ):
        return next(r for r in t["Resources"].values() if r["Type"] == typ)

    def methods(t):
        return [r for r in t["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"]

    def m1(t):
        res(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]["Scheme"] = "internet-facing"

    def m2(t):
        res(t, "AWS::ElasticLoadBalancingV2::Listener")["Properties"]["Protocol"] = "TLS"

    def m3(t):
        methods(t)[0]["Properties"]["Integration"]["ConnectionType"] = "INTERNET"

    def m4(t):
        res(t, "AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]["HealthCheckPath"] = "/healthz"

    def m5(t):
        t["Parameters"]["DeregistrationDelay"]["Default"] = 10

    def m6(t):
        del res(t, "AWS::ApiGateway::VpcLink")["Condition"]

    def m7(t):
        res(t, "AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]["Targets"].pop()

    def m8(t):
        res(t, "AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]["HealthCheckIntervalSeconds"] = 30

    def m9(t):
        a = res(t, "AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]["TargetGroupAttributes"]
        a[:] = [x for x in a if x["Key"] != "target_health_state.unhealthy.connection_termination.enabled"]

    return [("an internet-facing NLB", m1), ("a TLS listener", m2), ("GET always over the internet", m3),
            ("health check on /healthz", m4), ("deregistration delay 10 s", m5),
            ("a VPC link in the public variant", m6), ("room for three targets only", m7),
            ("health check every 30 s", m8), ("connections reset when /readyz fails", m9)]


def cfn_iam_mutations(tpl):
    def st(t):
        api = next(r for r in t["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
        return api["Properties"]["Policy"]["Statement"][0]

    def m1(t):
        st(t)["Resource"] = st(t)["Resource"][:1]

    def m2(t):
        st(t)["Condition"]["ArnEquals"]["aws:PrincipalArn"] = "arn:aws:iam::111122223333:role/someone-else"

    def m3(t):
        st(t)["Resource"] = ["execute-api:/*"]

    return [("GET only", m1), ("another principal", m2), ("every method and path", m3)]


# ---------------------------------------------------------------- CloudFormation: many dimensions


def expand_foreach(fragment, ident: str, value: str):
    """What AWS::LanguageExtensions does to one item: ${Id} -> value, &{Id} ->
    value without non-alphanumerics, in keys and strings; Ref Id -> value;
    Ref of a resolved Fn::Sub becomes a plain Ref."""
    alnum = re.sub(r"[^0-9A-Za-z]", "", value)

    def s(x: str) -> str:
        return x.replace(f"${{{ident}}}", value).replace(f"&{{{ident}}}", alnum)

    def walk(x):
        if isinstance(x, dict):
            out = {s(k): walk(v) for k, v in x.items()}
            if list(out) == ["Ref"] and isinstance(out["Ref"], dict) and list(out["Ref"]) == ["Fn::Sub"]:
                return {"Ref": out["Ref"]["Fn::Sub"]}
            if out == {"Ref": ident}:
                return value
            return out
        if isinstance(x, list):
            return [walk(v) for v in x]
        return s(x) if isinstance(x, str) else x

    return walk(fragment)


def check_cfn_many(tpl, c: Checker) -> None:
    transform = tpl.get("Transform")
    transform = [transform] if isinstance(transform, str) else (transform or [])
    c.check("AWS::LanguageExtensions" in transform, "scalable-targets.yaml uses the AWS::LanguageExtensions transform")
    c.check(tpl.get("Parameters", {}).get("DimensionIds", {}).get("Type") == "CommaDelimitedList",
            "parameter DimensionIds is a CommaDelimitedList")
    loops = {k: v for k, v in tpl.get("Resources", {}).items() if k.startswith("Fn::ForEach::")}
    if not c.check(len(loops) == 1, "one Fn::ForEach loop over the resources", list(loops)):
        return
    ident, collection, fragment = next(iter(loops.values()))
    c.check(collection == {"Ref": "DimensionIds"}, "the loop runs over DimensionIds", collection)
    ids = [DIMENSION_ID, "orders", "billing-eu"]
    expanded = {}
    for i in ids:
        expanded.update(expand_foreach(fragment, ident, i))
    tpl2 = {"Resources": expanded}
    targets = cfn_by_type(tpl2, "AWS::ApplicationAutoScaling::ScalableTarget")
    policies = cfn_by_type(tpl2, "AWS::ApplicationAutoScaling::ScalingPolicy")
    c.check(len(targets) == len(ids) and len(policies) == len(ids),
            f"ids {ids} give {len(ids)} scalable targets and {len(ids)} policies", (list(targets), list(policies)))
    env = {"ResourceIdPrefix": RESOURCE_ID_PREFIX, "AWS::StackName": "crest-targets"}
    got = sorted(try_eval(t.get("Properties", {}).get("ResourceId"), env) for t in targets.values())
    c.check(got == sorted(RESOURCE_ID_PREFIX + i for i in ids),
            "each target's ResourceId is ResourceIdPrefix + its id (for 1-23456789: the AAS resource ID)", got)
    for name, t in targets.items():
        p = t.get("Properties", {})
        c.check(p.get("ServiceNamespace") == SERVICE_NAMESPACE and p.get("ScalableDimension") == SCALABLE_DIMENSION,
                f"{name}: custom-resource namespace and dimension")
    for name, pol in policies.items():
        p = pol.get("Properties", {})
        ref = p.get("ScalingTargetId", {}).get("Ref")
        mine = targets.get(ref, {}).get("Properties", {}).get("ResourceId")
        dims = p.get("TargetTrackingScalingPolicyConfiguration", {}).get("CustomizedMetricSpecification", {}).get(
            "Dimensions", [])
        c.check(ref in targets and p.get("PolicyType") == "TargetTrackingScaling",
                f"{name}: a TargetTracking policy on its own target", ref)
        want = try_eval(mine, env)[len(RESOURCE_ID_PREFIX):] if mine else None
        c.check([d.get("Value") for d in dims] == [want], f"{name}: its metric dimension is its dimension id",
                [d.get("Value") for d in dims])


def cfn_many_mutations(tpl):
    def loop(t):
        return next(v for k, v in t["Resources"].items() if k.startswith("Fn::ForEach::"))

    def pol(t):
        return next(v for v in loop(t)[2].values() if v["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy")

    def m1(t):
        loop(t)[1] = ["orders"]

    def m2(t):
        pol(t)["Properties"]["ScalingTargetId"] = {"Ref": "ScalableTargetorders"}

    def m3(t):
        tgt = next(v for v in loop(t)[2].values() if v["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget")
        tgt["Properties"]["ResourceId"] = {"Fn::Sub": "${ResourceIdPrefix}"}

    return [("a fixed collection", m1), ("every policy on one target", m2), ("ResourceId without the id", m3)]


# ---------------------------------------------------------------- Terraform: private and IAM


def check_tf_private(tf: dict, c: Checker) -> None:
    R = tf["resource"]
    loc = tf["locals"]
    var = tf["variable"]
    c.check(var.get("exposure", {}).get("default") == "public", "variable exposure defaults to public")
    c.check(loc.get("private") == '${var.exposure == "private"}', "local.private is exposure == private",
            loc.get("private"))
    lbs = R.get("aws_lb", {})
    c.check(len(lbs) == 1 and all(lb.get("internal") is True and lb.get("load_balancer_type") == "network"
                                  and lb.get("count") == "${local.private ? 1 : 0}" for lb in lbs.values()),
            "one aws_lb, internal, network, only when private", lbs)
    c.check(not R.get("aws_eip") and not R.get("aws_internet_gateway"), "no Elastic IP, no internet gateway")
    for typ in ("aws_lb_target_group", "aws_lb_listener", "aws_api_gateway_vpc_link"):
        c.check(all(r.get("count") == "${local.private ? 1 : 0}" for r in R.get(typ, {}).values())
                and len(R.get(typ, {})) == 1, f"one {typ}, only when private")
    lb = next(iter(lbs), "private")
    tg_name = next(iter(R.get("aws_lb_target_group", {})), "crest")
    tg = R.get("aws_lb_target_group", {}).get(tg_name, {})
    hc = one_block(tg.get("health_check", []))
    c.check(tg.get("protocol") == "TCP" and hc.get("protocol") == "HTTPS" and hc.get("path") == "/readyz",
            "target group: TCP to crest, health check HTTPS GET /readyz", (tg.get("protocol"), hc))
    delay = var.get("deregistration_delay", {}).get("default")
    c.check(tg.get("deregistration_delay") == "${var.deregistration_delay}" and delay is not None
            and CREST_SHUTDOWN_DELAY < delay <= CREST_SHUTDOWN_DELAY + 15,
            f"deregistration delay (default {delay}) a little above crest's shutdown delay {CREST_SHUTDOWN_DELAY} s")
    ths = one_block(tg.get("target_health_state", []))
    c.check(ths.get("enable_unhealthy_connection_termination") is False
            and ths.get("unhealthy_draining_interval") == "${var.deregistration_delay}",
            "a crest that fails /readyz keeps its connections for the same delay (no reset: its drain)", ths)
    ints = {k: loc.get(v.split("local.")[-1].rstrip("}")) for k, v in hc.items() if isinstance(v, str) and "local." in v}
    detect = (ints.get("interval") or 30) * (ints.get("unhealthy_threshold") or 3)
    c.check(detect <= CREST_SHUTDOWN_DELAY,
            f"the NLB sees /readyz fail (interval x unhealthy threshold = {detect} s) within the shutdown delay")
    lis = next(iter(R.get("aws_lb_listener", {}).values()), {})
    act = one_block(lis.get("default_action", []))
    c.check(lis.get("protocol") == "TCP" and lis.get("port") == 443
            and lis.get("load_balancer_arn") == f"${{aws_lb.{lb}[0].arn}}"
            and act.get("target_group_arn") == f"${{aws_lb_target_group.{tg_name}[0].arn}}",
            "the NLB listener is TCP 443 and forwards to the target group", (lis.get("protocol"), lis.get("port")))
    att = R.get("aws_lb_target_group_attachment", {})
    c.check(any(a.get("for_each") == "${local.private ? toset(var.crest_targets) : toset([])}" for a in att.values()),
            "one target group attachment per crest_targets entry, only when private")
    link = next(iter(R.get("aws_api_gateway_vpc_link", {})), "crest")
    c.check(R.get("aws_api_gateway_vpc_link", {}).get(link, {}).get("target_arns") == [f"${{aws_lb.{lb}[0].arn}}"],
            "the VPC link targets the NLB")
    c.check(loc.get("connection_type") == '${local.private ? "VPC_LINK" : "INTERNET"}'
            and loc.get("connection_id") == f"${{local.private ? aws_api_gateway_vpc_link.{link}[0].id : null}}",
            "private: connection VPC_LINK through the VPC link; public: INTERNET",
            (loc.get("connection_type"), loc.get("connection_id")))
    for name, i in R.get("aws_api_gateway_integration", {}).items():
        c.check(i.get("connection_type") == "${local.connection_type}"
                and i.get("connection_id") == "${local.connection_id}",
                f"integration {name} uses local.connection_type and local.connection_id")
    triggers = str(next(iter(R.get("aws_api_gateway_deployment", {}).values()), {}).get("triggers"))
    c.check("connection_type" in triggers and "aws_api_gateway_rest_api_policy" in triggers,
            "switching exposure or the resource policy redeploys the stage (deployment triggers)")


def check_tf_iam(tf: dict, c: Checker) -> None:
    pols = tf["resource"].get("aws_api_gateway_rest_api_policy", {})
    c.check(len(pols) == 1, "one aws_api_gateway_rest_api_policy", list(pols))
    ref = next(iter(pols.values()), {}).get("policy", "")
    m = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", ref)
    doc = tf["data"].get("aws_iam_policy_document", {}).get(m.group(1) if m else "", {})
    c.check(bool(doc), "the resource policy is an aws_iam_policy_document", ref)
    attrs = {"aws_api_gateway_rest_api.this.execution_arn": EXECUTION_ARN,
             "data.aws_partition.current.partition": "aws",
             "data.aws_caller_identity.current.account_id": ACCOUNT}
    statements = []
    for st in doc.get("statement", []):
        cond = {one_block(x).get("variable"): [tf_try(v, tf, attrs) for v in one_block(x).get("values", [])]
                for x in st.get("condition", [])}
        statements.append({
            "Effect": st.get("effect", "Allow"), "Action": st.get("actions", []),
            "Resource": [tf_try(r, tf, attrs) for r in st.get("resources", [])],
            "Condition": {"ArnEquals": {k: v[0] for k, v in cond.items() if len(v) == 1}},
        })
    check_invoke(c, statements, f"arn:aws:iam::{ACCOUNT}{AAS_ROLE_SUFFIX}", "the API's resource policy")


def tf_private_mutations(tf):
    R = lambda t: t["resource"]  # noqa: E731

    def m1(t):
        next(iter(R(t)["aws_lb"].values()))["internal"] = False

    def m2(t):
        next(iter(R(t)["aws_lb_listener"].values()))["protocol"] = "TLS"

    def m3(t):
        t["locals"]["connection_type"] = "INTERNET"

    def m4(t):
        one_block(next(iter(R(t)["aws_lb_target_group"].values()))["health_check"])["path"] = "/healthz"

    def m5(t):
        t["variable"]["deregistration_delay"]["default"] = 300

    def m6(t):
        del next(iter(R(t)["aws_api_gateway_vpc_link"].values()))["count"]

    def m7(t):
        del next(iter(R(t)["aws_lb_target_group"].values()))["target_health_state"]

    return [("an internet-facing NLB", m1), ("a TLS listener", m2), ("connection always INTERNET", m3),
            ("health check on /healthz", m4), ("deregistration delay 300 s", m5), ("a VPC link when public", m6),
            ("connections reset when /readyz fails", m7)]


def tf_iam_mutations(tf):
    def st(t):
        return next(iter(t["data"]["aws_iam_policy_document"].values()))["statement"][0]

    def m1(t):
        st(t)["resources"] = [r for r in st(t)["resources"] if "/PATCH/" not in r]

    def m2(t):
        st(t)["actions"] = ["execute-api:ManageConnections"]

    return [("no PATCH", m1), ("another action", m2)]


# ---------------------------------------------------------------- Terraform: multi-region


def check_tf_multi_region(ex: dict, c: Checker) -> None:
    providers = [p["aws"] for p in ex["provider"] if "aws" in p]
    regions = {p.get("alias"): p.get("region") for p in providers}
    c.check(len(providers) >= 2 and len(regions) == len(providers) and None not in regions,
            "the example has two or more aliased aws providers", regions)
    c.check(len(set(regions.values())) == len(regions), "each alias is a different region", regions)
    mods = ex["module"]
    c.check(len(mods) >= 2 and all(m.get("source") == "../.." for m in mods.values()),
            "two or more instances of the module (source ../..)", {k: m.get("source") for k, m in mods.items()})
    used = {k: (m.get("providers") or {}).get("aws") for k, m in mods.items()}
    aliases = {k: (u[len("${aws."):-1] if isinstance(u, str) and u.startswith("${aws.") else None)
               for k, u in used.items()}
    c.check(all(a in regions for a in aliases.values()) and len(set(aliases.values())) == len(mods),
            "each instance gets its own provider alias (providers = { aws = aws.ALIAS })", used)
    c.check(len({regions.get(a) for a in aliases.values()}) == len(mods), "so each instance is in its own region")
    for attr in ("crest_url", "name"):
        vals = [m.get(attr) for m in mods.values()]
        c.check(None not in vals and len(set(vals)) == len(vals), f"each region has its own {attr}", vals)
    ids = [i for m in mods.values() for i in (m.get("scalable_targets") or {})]
    c.check(len(ids) >= len(mods) and len(set(ids)) == len(ids),
            "each region scales its own dimensions (scalable_targets ids distinct across regions)", ids)
    outs = ex["output"]
    c.check(all(any(f"module.{k}." in json.dumps(o) for o in outs.values()) for k in mods),
            "the outputs name every region's module")


def tf_multi_mutations(ex):
    def mods(t):
        return list(t["module"].values())

    def m1(t):
        mods(t)[1]["providers"] = dict(mods(t)[0]["providers"])

    def m2(t):
        t["provider"][1]["aws"]["region"] = t["provider"][0]["aws"]["region"]

    def m3(t):
        mods(t)[1]["scalable_targets"] = dict(mods(t)[0]["scalable_targets"])

    def m4(t):
        del mods(t)[1]["providers"]

    return [("both instances on one provider", m1), ("both providers in one region", m2),
            ("the same dimension ids in both regions", m3), ("an instance without providers", m4)]


# ---------------------------------------------------------------- README: copy-paste policies


def readme_policies(readme: str) -> dict[str, dict]:
    """The ```json blocks of the README's "## IAM" section, by the heading above each."""
    sec = re.search(r"^## IAM\n(.*?)(?=^## )", readme, re.S | re.M)
    out: dict[str, dict] = {}
    if not sec:
        return out
    heading = "?"
    for m in re.finditer(r"^(#+ [^\n]*)$|^```json\n(.*?)^```", sec.group(1), re.S | re.M):
        if m.group(1):
            heading = m.group(1).lstrip("# ").strip()
        else:
            try:
                out[heading] = json.loads(m.group(2))
            except json.JSONDecodeError as e:
                out[heading] = {"invalid JSON": str(e)}
    return out


def check_readme_iam(readme: str, c: Checker) -> None:
    pols = readme_policies(readme)
    c.check(len(pols) >= 3, "the README's IAM section has the resource, operator and deployer policies as JSON",
            list(pols))
    bad = [h for h, p in pols.items() if "invalid JSON" in p or p.get("Version") != "2012-10-17"]
    c.check(not bad, "every JSON policy in the README parses and has Version 2012-10-17", bad)
    by_kind = {"resource": [], "identity": []}
    for p in pols.values():
        for st in p.get("Statement", []):
            by_kind["resource" if "Principal" in st else "identity"].append(st)
    check_invoke(c, by_kind["resource"], f"arn:aws:iam::{ACCOUNT}{AAS_ROLE_SUFFIX}", "the README's resource policy")
    check_invoke(c, by_kind["identity"], None, "the README's operator policy")


def readme_mutations(readme: str):
    def m1(t):
        return t.replace('/PATCH/scalableTargetDimensions/*"', '/POST/scalableTargetDimensions/*"')

    def m2(t):
        return t.replace('"execute-api:Invoke"', '"execute-api:InvalidateCache"')

    return [("PATCH replaced by POST", m1), ("no execute-api:Invoke", m2)]


def suites(tpl, many, tf, multi, readme):
    return [
        ("cloudformation private", check_cfn_private, tpl, cfn_private_mutations(tpl)),
        ("cloudformation IAM", check_cfn_iam, tpl, cfn_iam_mutations(tpl)),
        ("cloudformation many dimensions", check_cfn_many, many, cfn_many_mutations(many)),
        ("terraform private", check_tf_private, tf, tf_private_mutations(tf)),
        ("terraform IAM", check_tf_iam, tf, tf_iam_mutations(tf)),
        ("terraform multi-region", check_tf_multi_region, multi, tf_multi_mutations(multi)),
        ("README IAM", check_readme_iam, readme, readme_mutations(readme)),
    ]
