#!/bin/sh
# Creates three agencies' nodes that know each other, the way three operators would:
# init, export the signed identity, import each partner's bundle after checking its
# fingerprint (here read from the partner's own `identity show`, which a person would
# read out over the phone), and install a sharing policy. Used by the compose file's
# `bootstrap` service (one volume per agency under $DATA) and by the test suite.
#
#   LIAISON=liaison DATA=/data HOSTS="nl-np de-bka ro-diicot" sh bootstrap.sh
#
# Idempotent: an agency that already has a node is left as it is.
set -eu
LIAISON=${LIAISON:-liaison}
DATA=${DATA:-/data}
AGENCIES=${AGENCIES:-"NL-NP DE-BKA RO-DIICOT"}
PORT=${PORT:-7443}
API_PORT=${API_PORT:-7444}

lower() { echo "$1" | tr 'A-Z' 'a-z'; }
# Where partners reach an agency: its compose service name, unless ENDPOINT_<AGENCY> says.
endpoint() {
    var="ENDPOINT_$(echo "$1" | tr '-' '_')"
    eval "value=\${$var:-}"
    if [ -n "$value" ]; then echo "$value"; else echo "$(lower "$1"):$PORT"; fi
}
api_endpoint() {
    var="API_ENDPOINT_$(echo "$1" | tr '-' '_')"
    eval "value=\${$var:-}"
    if [ -n "$value" ]; then echo "$value"; else echo "0.0.0.0:$API_PORT"; fi
}

mkdir -p "$DATA/bundles"
for agency in $AGENCIES; do
    dir="$DATA/$(lower "$agency")"
    if [ ! -f "$dir/liaison.toml" ]; then
        "$LIAISON" init --data-dir "$dir" --agency "$agency" --name "$agency (demo)" \
            --peer-endpoint "$(endpoint "$agency")" --api-endpoint "$(api_endpoint "$agency")"
    fi
    rm -f "$DATA/bundles/$agency.identity"
    "$LIAISON" identity export --data-dir "$dir" --out "$DATA/bundles/$agency.identity" >/dev/null
done

for agency in $AGENCIES; do
    dir="$DATA/$(lower "$agency")"
    policy=""
    for partner in $AGENCIES; do
        [ "$partner" = "$agency" ] && continue
        fingerprint=$("$LIAISON" identity show --data-dir "$DATA/$(lower "$partner")" --json |
            sed -n 's/.*"fingerprint": *"\([A-Z2-7-]*\)".*/\1/p')
        if ! "$LIAISON" peer show "$partner" --data-dir "$dir" >/dev/null 2>&1; then
            "$LIAISON" peer add "$DATA/bundles/$partner.identity" --fingerprint "$fingerprint" \
                --data-dir "$dir" >/dev/null
        fi
        policy="$policy
[partners.$partner]
send = [\"trafficking\"]
receive = [\"trafficking\"]
max_send_tlp = \"amber\"
"
    done
    printf '# Written by deploy/compose/bootstrap.sh: share trafficking bulletins up to TLP:AMBER.\n%s' "$policy" > "$dir/policy.toml"
    "$LIAISON" policy check "$dir/policy.toml" >/dev/null
done
# The nodes run as an unprivileged user in their containers.
chown -R "${OWNER:-$(id -u):$(id -g)}" "$DATA"
echo "bootstrapped: $AGENCIES"
