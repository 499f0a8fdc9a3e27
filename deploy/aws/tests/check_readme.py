"""The READMEs' commands and snippets against the templates, for check_templates.py.

Every `--parameter-overrides Name=...` in a deploy command names a parameter
of the template that command deploys; every `-var name=...` and every
argument of a module block in an ```hcl snippet names a variable of the
module; every output a command or snippet reads exists. A README that
drifts from the templates (a renamed parameter, a misspelt variable) fails
here, not in a user's first deployment.
"""

from __future__ import annotations

import re

import hcl2
from check_templates import Checker, norm

BLOCK = re.compile(r"^```(sh|console|hcl)\n(.*?)^```", re.S | re.M)


def commands(text: str) -> list[str]:
    """The shell commands of the ```sh/```console blocks, continuation lines joined."""
    out = []
    for m in BLOCK.finditer(text):
        if m.group(1) != "hcl":
            out.extend(m.group(2).replace("\\\n", " ").splitlines())
    return out


def hcl_blocks(text: str) -> list[str]:
    return [m.group(2) for m in BLOCK.finditer(text) if m.group(1) == "hcl"]


def check_readme_commands(docs: dict, c: Checker) -> None:
    params = {"api-gateway.yaml": docs["cfn_params"], "scalable-targets.yaml": docs["many_params"]}
    tf_vars, tf_outputs = docs["tf_vars"], docs["tf_outputs"]
    for name, text in (("deploy/aws/README.md", docs["readme"]), ("terraform/README.md", docs["tf_readme"])):
        cmds = commands(text)
        seen = {"parameters": 0, "vars": 0, "modules": 0}
        for cmd in cmds:
            if "--parameter-overrides" in cmd:
                tpl = next((t for t in params if t in cmd), None)
                if not c.check(tpl is not None, f"{name}: a deploy command names its template", cmd[:80]):
                    continue
                given = re.findall(r"\s([A-Za-z0-9]+)=", cmd.split("--parameter-overrides", 1)[1])
                unknown = [g for g in given if g not in params[tpl]]
                c.check(not unknown, f"{name}: every parameter given to {tpl} exists ({', '.join(given)})", unknown)
                seen["parameters"] += len(given)
            for key in re.findall(r"OutputKey=='(\w+)'", cmd):
                stack_tpl = "scalable-targets.yaml" if "crest-targets" in cmd else "api-gateway.yaml"
                c.check(key in docs["cfn_outputs"][stack_tpl], f"{name}: output {key} of {stack_tpl} exists")
            vars_ = re.findall(r"-var '?([a-z_]+)=", cmd)
            if vars_:
                unknown = [v for v in vars_ if v not in tf_vars]
                c.check(not unknown, f"{name}: every -var names a module variable ({', '.join(vars_)})", unknown)
                seen["vars"] += len(vars_)
            for out in re.findall(r"terraform output (?:-raw )?([a-z_]+)", cmd):
                c.check(out in tf_outputs, f"{name}: terraform output {out} exists")
        for src in hcl_blocks(text):
            try:
                doc = norm(hcl2.loads(src))
            except Exception as e:  # noqa: BLE001 - any parse error is the finding
                c.check(False, f"{name}: an hcl snippet parses", str(e)[:120])
                continue
            for block in doc.get("module", []):
                for mod, body in block.items():
                    args = set(body) - {"source", "providers"}
                    unknown = sorted(args - tf_vars)
                    c.check(not unknown, f"{name}: module {mod}'s arguments are module variables", unknown)
                    c.check("crest_url" in args, f"{name}: module {mod} gives the required crest_url")
                    seen["modules"] += 1
            for block in doc.get("output", []):
                for out, body in block.items():
                    used = re.findall(r"module\.\w+\.(\w+)", str(body.get("value")))
                    c.check(all(u in tf_outputs for u in used), f"{name}: output {out} reads module outputs that exist",
                            used)
        c.check(all(seen.values()) if name.startswith("deploy") else seen["vars"] and seen["modules"],
                f"{name}: its commands and snippets were found and read", seen)


def readme_command_mutations(docs: dict):
    def m1(d):
        d["readme"] = d["readme"].replace("Exposure=private", "Exposur=private")

    def m2(d):
        d["readme"] = d["readme"].replace("-var exposure=private", "-var exposures=private")

    def m3(d):
        d["readme"] = d["readme"].replace("  scalable_targets = {", "  scalable_target = {", 1)

    def m4(d):
        d["readme"] = d["readme"].replace("DimensionIds=orders", "DimensionId=orders")

    def m5(d):
        d["tf_readme"] = d["tf_readme"].replace("module.crest_api.client_certificate_id", "module.crest_api.cert_id")

    return [("a misspelt CloudFormation parameter", m1), ("a misspelt -var", m2),
            ("a misspelt module argument", m3), ("a misspelt scalable-targets.yaml parameter", m4),
            ("an output that does not exist", m5)]


def suites(tpl, many, tf, readme: str, tf_readme: str):
    docs = {
        "readme": readme, "tf_readme": tf_readme,
        "cfn_params": set(tpl.get("Parameters", {})), "many_params": set(many.get("Parameters", {})),
        "cfn_outputs": {"api-gateway.yaml": set(tpl.get("Outputs", {})),
                        "scalable-targets.yaml": set(many.get("Outputs", {}))},
        "tf_vars": set(tf["variable"]), "tf_outputs": set(tf["output"]),
    }
    return [("README commands", check_readme_commands, docs, readme_command_mutations(docs))]
