#!/usr/bin/env bash
# Checks the AWS side of crest (deploy/aws/) without an AWS account.
#
# Run from the repository root:  bash deploy/aws/check.sh
#
# Every step prints what it proves. All steps run; the script exits non-zero
# if any failed. Needs python3 (3.9+), openssl and network access to PyPI;
# installs shellcheck with apt-get when it is missing and we are root.
#
# Environment:
#   CREST_AWS_VENV  the venv to (re)use (default: ${TMPDIR:-/tmp}/crest-aws-check-venv)
#   CREST_BIN       a crest binary for the end-to-end pin/rotation test
#                   (default: the newest target/{release,debug}/crest that
#                   knows --client-cert-pin; skipped when there is none)
#   TERRAFORM       the terraform command (default: terraform, when present)
#   TF_PLUGIN_DIR   a local mirror of the hashicorp/aws provider for terraform
#                   init -plugin-dir (default: /opt/tf-plugins when it holds
#                   one); without a mirror, init needs the Terraform registry
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

aws_dir=deploy/aws
template=$aws_dir/cloudformation/api-gateway.yaml
many_template=$aws_dir/cloudformation/scalable-targets.yaml
templates=("$aws_dir"/cloudformation/*.yaml)
tf_dir=$aws_dir/terraform
script=$aws_dir/fetch-client-cert.sh
venv=${CREST_AWS_VENV:-${TMPDIR:-/tmp}/crest-aws-check-venv}
# Versions these checks were written against; change them together.
requirements=(cfn-lint==1.58.0 python-hcl2==8.1.4 awscli==1.46.3)

passed=()
failed=()
skipped=()

section() {
    printf '\n== %s\n' "$1"
}

proves() {
    printf '   proves: %s\n' "$1"
}

# step NAME CMD...: run CMD, record the result, never stop the script.
step() {
    local name=$1
    shift
    if "$@"; then
        passed+=("$name")
        printf '   PASS %s\n' "$name"
    else
        failed+=("$name")
        printf '   FAIL %s\n' "$name"
    fi
}

skip() {
    skipped+=("$1: $2")
    printf '   SKIP %s: %s\n' "$1" "$2"
}

# ------------------------------------------------------------------ tools

section "tools: venv with ${requirements[*]} in $venv"
proves "the checkers below are the pinned versions, installed from PyPI"
setup_venv() {
    local marker="$venv/.crest-requirements"
    if [[ -x $venv/bin/python && -f $marker && $(cat "$marker") == "${requirements[*]}" ]]; then
        echo "   reusing $venv"
        return 0
    fi
    rm -rf -- "$venv"
    python3 -m venv "$venv" || {
        echo "   python3 -m venv failed (on Debian: apt-get install -y python3-venv)"
        return 1
    }
    local log="$venv/pip.log"
    echo "   pip install ${requirements[*]} (a minute or so)"
    if ! "$venv/bin/pip" install --disable-pip-version-check -q "${requirements[@]}" >"$log" 2>&1; then
        tail -n 20 "$log"
        return 1
    fi
    printf '%s' "${requirements[*]}" >"$marker"
}
step "venv" setup_venv

ensure_shellcheck() {
    if command -v shellcheck >/dev/null 2>&1; then
        return 0
    fi
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "   installing shellcheck with apt-get"
        { apt-get install -y shellcheck || { apt-get update && apt-get install -y shellcheck; }; } >/dev/null 2>&1
    fi
    command -v shellcheck >/dev/null 2>&1 || {
        echo "   shellcheck is missing (apt-get install -y shellcheck)"
        return 1
    }
}
step "shellcheck available" ensure_shellcheck

# ------------------------------------------------------------------ shell

section "shell: bash -n and shellcheck on $script and $aws_dir/check.sh"
proves "the scripts parse, and shellcheck finds no quoting, word-splitting or set -e pitfalls"
step "bash -n" bash -n "$script" "$aws_dir/check.sh"
step "shellcheck" shellcheck "$script" "$aws_dir/check.sh"
help_works() {
    "$script" --help | grep -q -- '--client-cert-pin'
}
step "fetch-client-cert.sh --help" help_works

# ------------------------------------------------------------------ CloudFormation

section "cloudformation: cfn-lint ${templates[*]}"
proves "every template is valid CloudFormation against cfn-lint's AWS resource schemas: resource types, property names and types, enums (Integration Type, ConnectionType, Scheme, ServiceNamespace, PolicyType, ...), references, conditions, rules, outputs, parameter patterns against their defaults (AuthorizationType is a free string there: check_templates.py checks it); scalable-targets.yaml after cfn-lint expands its Fn::ForEach (AWS::LanguageExtensions)"
cfn_lint() {
    "$venv/bin/cfn-lint" --include-checks I -- "${templates[@]}"
}
step "cfn-lint" cfn_lint

proves "cfn-lint is not vacuous: copies with a misspelt Stage property, an unknown integration type, a dangling Ref, an unknown NLB scheme or connection type, or a ForEach Ref to no generated resource are each rejected"
# lint_rejects TEMPLATE SED-EDIT...: each edited copy must fail cfn-lint.
lint_rejects() {
    local template=$1 broken edit rc ok=0
    shift
    broken=$(mktemp "${TMPDIR:-/tmp}/crest-broken-XXXXXX.yaml")
    for edit in "$@"; do
        sed -e "$edit" "$template" >"$broken"
        if cmp -s "$template" "$broken"; then
            printf '     the edit %s no longer applies to the template: update this check\n' "$edit"
            ok=1
            continue
        fi
        rc=0
        "$venv/bin/cfn-lint" -- "$broken" >"$broken.out" 2>&1 || rc=$?
        if [[ $rc -ne 0 ]]; then
            printf '     rejected (%s): %s\n' "$edit" "$(head -c 150 "$broken.out" | head -n 1)"
        else
            printf '     NOT rejected: %s\n' "$edit"
            ok=1
        fi
    done
    rm -f -- "$broken" "$broken.out"
    return "$ok"
}
cfn_lint_rejects_broken() {
    local ok=0
    lint_rejects "$template" \
        's/^      ClientCertificateId: !If/      ClientCertificateID: !If/' \
        '0,/Type: HTTP_PROXY/s//Type: HTTP_PROXYX/' \
        's/DeploymentId: !Ref Deployment/DeploymentId: !Ref NoSuchDeployment/' \
        's/Scheme: internal/Scheme: private/' \
        '0,/VPC_LINK, INTERNET/s//VPC_LINKX, INTERNET/' || ok=1
    lint_rejects "$many_template" \
        's/Ref: !Sub ScalableTarget&{Id}/Ref: !Sub ScalableTargets\&{Id}/' || ok=1
    return "$ok"
}
step "cfn-lint rejects broken copies" cfn_lint_rejects_broken

# ------------------------------------------------------------------ Terraform

section "terraform: $tf_dir"
read -r -a terraform_cmd <<<"${TERRAFORM:-terraform}"
terraform_env=()
if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -e ${TF_CLI_CONFIG_FILE} ]]; then
    terraform_env=(-u TF_CLI_CONFIG_FILE) # points at a missing file: only warnings
fi
if command -v "${terraform_cmd[0]}" >/dev/null 2>&1; then
    echo "   found $("${terraform_cmd[@]}" version 2>/dev/null | head -n 1)"
    proves "the .tf files are in canonical terraform fmt layout (this also parses them with terraform's own HCL parser)"
    tf_fmt() {
        env "${terraform_env[@]}" "${terraform_cmd[@]}" fmt -check -diff -recursive "$tf_dir"
    }
    step "terraform fmt -check" tf_fmt

    plugin_dir=${TF_PLUGIN_DIR:-}
    if [[ -z $plugin_dir && -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ]]; then
        plugin_dir=/opt/tf-plugins
    fi
    init_args=(init -backend=false -input=false -no-color)
    if [[ -n $plugin_dir ]]; then
        echo "   provider mirror: $plugin_dir"
        init_args+=("-plugin-dir=$plugin_dir")
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/crest-tf-XXXXXX")
    cp -R "$tf_dir" "$work/terraform"
    rm -rf -- "$work"/terraform/.terraform "$work"/terraform/examples/*/.terraform
    # tf_in DIR ARGS...: terraform ARGS in the copy of DIR (relative to $tf_dir)
    tf_in() {
        local dir=$1
        shift
        env "${terraform_env[@]}" TF_IN_AUTOMATION=1 "${terraform_cmd[@]}" -chdir="$work/terraform/$dir" "$@"
    }
    tf_roots=(. examples/multi-region)
    tf_init() {
        local dir
        for dir in "${tf_roots[@]}"; do
            tf_in "$dir" "${init_args[@]}" >"$work/init.log" 2>&1 || {
                grep -m1 -E 'could not connect|Failed to query|no such host|Error' "$work/init.log" | sed 's/^/     /' || true
                return 1
            }
        done
    }
    if tf_init; then
        proves "terraform validate: every resource, argument and reference of the module and of examples/multi-region is valid for the hashicorp/aws provider"
        tf_validate() {
            local dir rc=0
            for dir in "${tf_roots[@]}"; do
                echo "   $dir:"
                tf_in "$dir" validate -no-color || rc=1
            done
            return "$rc"
        }
        step "terraform validate" tf_validate
        proves "terraform test (tests/module.tftest.hcl, mocked provider): the plans for public, private (internal NLB, TCP 443, HTTPS /readyz, deregistration delay 20 and no connection reset for a failing target, VPC_LINK integrations, one attachment per target; refused without subnets) and three dimensions (one target and policy each, per-entry values with module-wide fallbacks)"
        tf_test() {
            tf_in . test -no-color
        }
        step "terraform test" tf_test
    else
        skip "terraform validate/test" "terraform init cannot get the hashicorp/aws provider here (no registry access, no mirror in TF_PLUGIN_DIR); the python-hcl2 checks below stand in, and argument names are checked on paper only"
    fi
    rm -rf -- "$work"
else
    skip "terraform fmt/validate/test" "no terraform binary on this machine; the python-hcl2 checks below stand in"
fi

# ------------------------------------------------------------------ properties

section "properties: $aws_dir/tests/check_templates.py (cfn-lint's YAML loader + python-hcl2)"
proves "the CloudFormation templates, every .tf file, the multi-region example and the README's IAM policies say what the brief asks: GET and PATCH on /scalableTargetDimensions/{scalableTargetDimensionId} with AWS_IAM; HTTP_PROXY integrations to <crest>/v1/scalableTargetDimensions/{scalableTargetDimensionId} with the path parameter mapped (evaluated with example values to the exact crest URL); a stage with the client certificate; a custom-resource scalable target with ScalableDimension custom-resource:ResourceType:Property whose ResourceId evaluates to https://API.execute-api.REGION.amazonaws.com/STAGE/scalableTargetDimensions/ID; a TargetTracking policy with a customized metric; the outputs fetch-client-cert.sh reads; the same defaults in both; private: an internal NLB (no internet-facing resource), TCP 443 passthrough, HTTPS /readyz health check, deregistration delay above crest's shutdown delay, VPC_LINK integrations, none of it when public; one target and policy per dimension (Fn::ForEach evaluated, for_each over the map); one module instance per region with its own provider alias, region, crest URL and dimension ids; execute-api:Invoke for GET and PATCH (and nothing else) for AAS's service-linked role in both resource policies and the README's policies; every parameter, -var, module argument and output the READMEs' commands and snippets use exists; and that broken copies fail these checks"
templates() {
    "$venv/bin/python" "$aws_dir/tests/check_templates.py" "$aws_dir"
}
step "template properties" templates

# ------------------------------------------------------------------ fetch-client-cert.sh

section "fetch-client-cert.sh: $aws_dir/tests/test_fetch_client_cert.py"
crest_bin=${CREST_BIN:-}
if [[ -z $crest_bin ]]; then
    for candidate in target/release/crest target/debug/crest; do
        if [[ -x $candidate ]] && "$candidate" serve --help 2>/dev/null | grep -q -- '--client-cert-pin'; then
            if [[ -z $crest_bin || $candidate -nt $crest_bin ]]; then crest_bin=$candidate; fi
        fi
    done
fi
fetch_args=("$script" --real-aws "$venv/bin/aws")
proves "with a fake aws (AWS=...) printing openssl-made self-signed PEMs: the exact aws command lines, the pin file's path, content and mode 0644, atomic replacement, stdout = the --client-cert-pin flag, ids from stack/terraform outputs, refusals that keep the old pin, bundles, --remove, reload commands"
proves "with the real aws CLI against a stub endpoint on 127.0.0.1: the script's arguments and --query expressions work with the real CLI and make the expected signed API calls"
if [[ -n $crest_bin ]]; then
    echo "   crest binary: $crest_bin ($(date -r "$crest_bin" '+%F %T'); built earlier, not rebuilt here)"
    proves "with a real crest: the fetched pin admits the certificate (200), no certificate gets 403, and a two-pin rotation through the bundle and SIGHUP works without a restart"
    fetch_args+=(--crest "$crest_bin")
else
    skip "crest end-to-end" "no crest binary with --client-cert-pin (set CREST_BIN or build crest)"
fi
fetch_tests() {
    "$venv/bin/python" "$aws_dir/tests/test_fetch_client_cert.py" "${fetch_args[@]}"
}
step "fetch-client-cert.sh tests" fetch_tests

# ------------------------------------------------------------------ summary

section "summary"
echo "   not checked here (no AWS account): that AWS accepts and deploys the stack/module, that AAS registers the target and calls through API Gateway, the service-linked role, real certificate rotation in API Gateway; see deploy/aws/README.md"
for s in "${skipped[@]}"; do echo "   skipped: $s"; done
for f in "${failed[@]}"; do echo "   failed: $f"; done
printf 'aws checks: %d passed, %d failed, %d skipped\n' "${#passed[@]}" "${#failed[@]}" "${#skipped[@]}"
[[ ${#failed[@]} -eq 0 ]]
