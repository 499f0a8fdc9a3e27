#!/usr/bin/env bash
# Fetch an API Gateway client certificate into crest's pin directory, so that
# crest accepts exactly the certificate API Gateway presents
# (--client-cert-pin). Run `fetch-client-cert.sh --help` for the usage.
set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
Usage: $prog [options] [CLIENT_CERTIFICATE_ID]
       $prog [options] --stack STACK_NAME
       $prog [options] --terraform-dir DIR
       $prog [options] --remove CLIENT_CERTIFICATE_ID

Fetches the PEM of an API Gateway client certificate with
  aws apigateway get-client-certificate --client-certificate-id ID \\
      --query pemEncodedCertificate --output text
checks it is one X.509 certificate, and writes it atomically (temp file + mv,
mode 0644) to PIN_DIR/apigw-ID.pem. crest pins it with --client-cert-pin.

The certificate id comes from the argument, or from the ClientCertificateId
output of the CloudFormation stack (--stack), or from the client_certificate_id
output of the Terraform module (--terraform-dir).

Options:
  -s, --stack NAME          read the id from this CloudFormation stack's outputs
      --output-key KEY      stack output holding the id (default: ClientCertificateId)
  -t, --terraform-dir DIR   read the id with: terraform -chdir=DIR output -raw client_certificate_id
  -d, --pin-dir DIR         where pins are written (default: \$CREST_PIN_DIR or /etc/crest/pins)
  -b, --bundle FILE         also rebuild FILE as the concatenation of every
                            PIN_DIR/apigw-*.pem; pin FILE once and rotate with
                            SIGHUP only (crest pins every certificate in a file)
      --region REGION       passed to aws
      --profile PROFILE     passed to aws
  -r, --reload MODE         after writing, tell crest: none (default), systemd
                            (systemctl reload UNIT), or signal (pkill -HUP -x NAME;
                            a crest without TLS logs the SIGHUP and ignores it)
      --unit UNIT           systemd unit for --reload systemd (default: crest)
      --process NAME        process name for --reload signal (default: crest)
      --remove ID           delete PIN_DIR/apigw-ID.pem instead of fetching (end of a
                            rotation); rebuilds --bundle and reloads like a fetch
  -h, --help                show this help

Output: on success, stdout is exactly the flag to give crest, e.g.
  --client-cert-pin /etc/crest/pins/apigw-abc123.pem
and everything else (fingerprint, subject, expiry, notes) goes to stderr.

Reloading: SIGHUP (or crest's own file polling, every tls_reload_interval)
reloads the *contents* of pin files crest was started with. A pin file that is
new to crest needs the flag (or client_cert_pin in crest's TOML file, or
CREST_CLIENT_CERT_PIN) and a restart; with --bundle, the bundle path never
changes, so a reload is enough.

Environment:
  AWS         the aws CLI command, split on spaces (default: aws); tests point
              it at a fake that prints a PEM
  TERRAFORM   the terraform command (default: terraform)
  SYSTEMCTL   the systemctl command (default: systemctl)
  PKILL       the pkill command (default: pkill)
  CREST_PIN_DIR  default for --pin-dir

Exit status: 0 on success, 1 on failure, 2 on a usage error.
EOF
}

die() {
    printf '%s: %s\n' "$prog" "$*" >&2
    exit 1
}

usage_error() {
    printf '%s: %s\n' "$prog" "$*" >&2
    printf "Try '%s --help'.\n" "$prog" >&2
    exit 2
}

note() {
    printf '%s\n' "$*" >&2
}

# Options that take a value: fail clearly when it is missing.
need_value() {
    if [[ $# -lt 2 || -z $2 ]]; then
        usage_error "option $1 needs a value"
    fi
}

read -r -a aws_cmd <<<"${AWS:-aws}"
read -r -a terraform_cmd <<<"${TERRAFORM:-terraform}"
read -r -a systemctl_cmd <<<"${SYSTEMCTL:-systemctl}"
read -r -a pkill_cmd <<<"${PKILL:-pkill}"
if [[ ${#aws_cmd[@]} -eq 0 ]]; then aws_cmd=(aws); fi
if [[ ${#terraform_cmd[@]} -eq 0 ]]; then terraform_cmd=(terraform); fi
if [[ ${#systemctl_cmd[@]} -eq 0 ]]; then systemctl_cmd=(systemctl); fi
if [[ ${#pkill_cmd[@]} -eq 0 ]]; then pkill_cmd=(pkill); fi

cert_id=""
stack=""
output_key="ClientCertificateId"
tf_dir=""
pin_dir=${CREST_PIN_DIR:-/etc/crest/pins}
bundle=""
reload="none"
unit="crest"
process="crest"
remove_id=""
aws_opts=()

while [[ $# -gt 0 ]]; do
    case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        -s | --stack)
            need_value "$@"
            stack=$2
            shift 2
            ;;
        --output-key)
            need_value "$@"
            output_key=$2
            shift 2
            ;;
        -t | --terraform-dir)
            need_value "$@"
            tf_dir=$2
            shift 2
            ;;
        -d | --pin-dir)
            need_value "$@"
            pin_dir=$2
            shift 2
            ;;
        -b | --bundle)
            need_value "$@"
            bundle=$2
            shift 2
            ;;
        --region | --profile)
            need_value "$@"
            aws_opts+=("$1" "$2")
            shift 2
            ;;
        -r | --reload)
            need_value "$@"
            reload=$2
            shift 2
            ;;
        --unit)
            need_value "$@"
            unit=$2
            shift 2
            ;;
        --process)
            need_value "$@"
            process=$2
            shift 2
            ;;
        --remove)
            need_value "$@"
            remove_id=$2
            shift 2
            ;;
        --)
            shift
            break
            ;;
        -*)
            usage_error "unknown option: $1"
            ;;
        *)
            break
            ;;
    esac
done

if [[ $# -gt 1 ]]; then
    usage_error "one certificate id at most, got: $*"
elif [[ $# -eq 1 ]]; then
    cert_id=$1
fi

case $reload in
    none | systemd | signal) ;;
    *) usage_error "--reload must be none, systemd or signal, not '$reload'" ;;
esac

sources=0
for s in "$cert_id" "$stack" "$tf_dir" "$remove_id"; do
    if [[ -n $s ]]; then sources=$((sources + 1)); fi
done
if [[ $sources -ne 1 ]]; then
    usage_error "give exactly one of: CLIENT_CERTIFICATE_ID, --stack, --terraform-dir, --remove"
fi

# API Gateway ids are short alphanumeric strings; refusing anything else also
# keeps the id from walking out of the pin directory in the file name.
valid_id() {
    [[ $1 =~ ^[A-Za-z0-9_-]{1,128}$ ]]
}

# The lowercase hex SHA-256 of the certificate's DER: the client_sha256 that
# crest's change log shows for each caller.
fingerprint() {
    openssl x509 -in "$1" -noout -fingerprint -sha256 | sed -e 's/^.*=//' -e 's/://g' | tr 'A-F' 'a-f'
}

# Rebuild the bundle (if any) from every apigw-*.pem in the pin directory.
rebuild_bundle() {
    [[ -n $bundle ]] || return 0
    local files=() f tmp
    shopt -s nullglob
    for f in "$pin_dir"/apigw-*.pem; do
        if [[ $f -ef $bundle ]]; then continue; fi
        files+=("$f")
    done
    shopt -u nullglob
    if [[ ${#files[@]} -eq 0 ]]; then
        die "no $pin_dir/apigw-*.pem left to bundle into $bundle; crest refuses an empty pin file (kept $bundle as it was)"
    fi
    mkdir -p -- "$(dirname -- "$bundle")"
    tmp=$(mktemp "$(dirname -- "$bundle")/.$(basename -- "$bundle").XXXXXX")
    tmp_files+=("$tmp")
    cat -- "${files[@]}" >"$tmp"
    chmod 0644 "$tmp"
    mv -f -- "$tmp" "$bundle"
    note "bundle: $bundle now pins ${#files[@]} certificate file(s): ${files[*]}"
}

do_reload() {
    case $reload in
        none)
            note "reload: not asked (crest also notices changed pin files within tls_reload_interval, 10s by default)"
            ;;
        systemd)
            if "${systemctl_cmd[@]}" reload "$unit"; then
                note "reload: systemctl reload $unit"
            elif "${systemctl_cmd[@]}" kill --signal=HUP --kill-who=main "$unit"; then
                note "reload: $unit has no ExecReload; sent SIGHUP with systemctl kill"
            else
                die "could not reload the $unit unit"
            fi
            ;;
        signal)
            if "${pkill_cmd[@]}" -HUP -x "$process"; then
                note "reload: sent SIGHUP to every process named $process"
            else
                die "no process named $process got SIGHUP (is crest running?)"
            fi
            ;;
    esac
}

tmp_files=()
cleanup() {
    if [[ ${#tmp_files[@]} -gt 0 ]]; then rm -f -- "${tmp_files[@]}"; fi
}
trap cleanup EXIT

# --remove: the end of a rotation.
if [[ -n $remove_id ]]; then
    valid_id "$remove_id" || die "not a client certificate id: '$remove_id'"
    target="$pin_dir/apigw-$remove_id.pem"
    [[ -e $target ]] || die "no pin $target to remove"
    rm -f -- "$target"
    note "removed: $target"
    rebuild_bundle
    do_reload
    if [[ -n $bundle ]]; then
        printf -- '--client-cert-pin %s\n' "$bundle"
    else
        note "Drop '--client-cert-pin $target' from crest's flags (or client_cert_pin in its TOML file) and restart crest: a pin file that disappears is refused at reload and the old pins keep serving."
    fi
    exit 0
fi

# Find the id.
if [[ -n $stack ]]; then
    cert_id=$("${aws_cmd[@]}" "${aws_opts[@]}" cloudformation describe-stacks \
        --stack-name "$stack" \
        --query "Stacks[0].Outputs[?OutputKey=='$output_key'].OutputValue | [0]" \
        --output text) || die "could not read output $output_key of stack $stack"
    cert_id=${cert_id//$'\r'/}
    if [[ -z $cert_id || $cert_id == None ]]; then
        die "stack $stack has no output $output_key"
    fi
    note "id: $cert_id (output $output_key of stack $stack)"
elif [[ -n $tf_dir ]]; then
    cert_id=$("${terraform_cmd[@]}" -chdir="$tf_dir" output -raw client_certificate_id) ||
        die "could not read output client_certificate_id in $tf_dir"
    note "id: $cert_id (terraform output client_certificate_id in $tf_dir)"
fi
valid_id "$cert_id" || die "not a client certificate id: '$cert_id'"

# Fetch the PEM.
pem=$("${aws_cmd[@]}" "${aws_opts[@]}" apigateway get-client-certificate \
    --client-certificate-id "$cert_id" \
    --query pemEncodedCertificate --output text) ||
    die "aws apigateway get-client-certificate --client-certificate-id $cert_id failed"
pem=${pem//$'\r'/}

begins=$(grep -c -- '-----BEGIN CERTIFICATE-----' <<<"$pem" || true)
ends=$(grep -c -- '-----END CERTIFICATE-----' <<<"$pem" || true)
if [[ $begins -ne 1 || $ends -ne 1 ]]; then
    die "client certificate $cert_id: expected one PEM certificate, got ${begins} BEGIN and ${ends} END lines"
fi

mkdir -p -- "$pin_dir"
dest="$pin_dir/apigw-$cert_id.pem"
tmp=$(mktemp "$pin_dir/.apigw-$cert_id.pem.XXXXXX")
tmp_files+=("$tmp")
printf '%s\n' "$pem" >"$tmp"

if command -v openssl >/dev/null 2>&1; then
    openssl x509 -in "$tmp" -noout 2>/dev/null ||
        die "client certificate $cert_id: the PEM does not parse as an X.509 certificate"
    subject=$(openssl x509 -in "$tmp" -noout -subject)
    enddate=$(openssl x509 -in "$tmp" -noout -enddate)
    note "certificate: $cert_id ${subject}, ${enddate}, sha256 $(fingerprint "$tmp")"
    if ! openssl x509 -in "$tmp" -noout -checkend 0 >/dev/null; then
        note "warning: certificate $cert_id has expired; generate a new one (see deploy/aws/README.md, rotation)"
    fi
else
    note "openssl not found: the PEM was only checked for its BEGIN/END lines"
fi

chmod 0644 "$tmp"
mv -f -- "$tmp" "$dest"
note "pinned: $dest"

rebuild_bundle
do_reload

if [[ -n $bundle ]]; then
    note "Give crest this flag once (the bundle path stays the same across rotations):"
    printf -- '--client-cert-pin %s\n' "$bundle"
else
    note "Add this flag to crest (or $dest to client_cert_pin in its TOML file); a pin file crest was not started with needs a restart:"
    printf -- '--client-cert-pin %s\n' "$dest"
fi
