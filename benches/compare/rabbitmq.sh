#!/usr/bin/env bash
# Same-run comparison of Liaison's end-to-end rate with a RabbitMQ quorum queue on
# this machine: persistent 1 KiB messages, publisher confirms, 256 in flight, consumed
# with manual acks — the reference the throughput issue measured. Installs
# rabbitmq-server (Debian package) and pika (PyPI) if missing, runs a throwaway broker
# with its data in a temporary directory, then `liaison bench` for one recipient, and
# prints both figures and their ratio.
#
#   benches/compare/rabbitmq.sh [MESSAGES]      (default 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
messages="${1:-100000}"
here="$(pwd)/benches/compare"

if ! command -v rabbitmq-server >/dev/null; then
    apt-get install -y -q rabbitmq-server >/dev/null
fi
python3 -c 'import pika' 2>/dev/null || python3 -m pip install -q 'pika==1.4.4'

# Debian's wrappers switch to the rabbitmq user; the scripts behind them run the
# broker as the caller, with its data and Erlang cookie in our temporary HOME.
bin=/usr/lib/rabbitmq/bin
[ -x "$bin/rabbitmq-server" ] || bin="$(dirname "$(command -v rabbitmq-server)")"
work="$(mktemp -d)"
export RABBITMQ_MNESIA_BASE="$work/mnesia" RABBITMQ_LOG_BASE="$work/log" \
       RABBITMQ_NODENAME="liaison-compare@localhost" RABBITMQ_NODE_PORT=5672 \
       RABBITMQ_DIST_PORT=25672
# The broker's Erlang cookie lives in its own HOME; cargo keeps ours.
rabbit() { HOME="$work" "$bin/$1" "${@:2}"; }
rabbit rabbitmq-server >"$work/server.out" 2>&1 &
broker=$!
cleanup() {
    rabbit rabbitmqctl -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || kill "$broker" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 120); do
    rabbit rabbitmq-diagnostics -n "$RABBITMQ_NODENAME" -q check_port_connectivity >/dev/null 2>&1 && break
    kill -0 "$broker" 2>/dev/null || { cat "$work/server.out"; exit 1; }
    sleep 1
done

cargo build --release -q -p liaison-cli
rabbit="$(python3 "$here/rabbitmq_publish.py" "$messages" 1024 256)"
echo "$rabbit"
# The same 256 in flight as the RabbitMQ publisher.
./target/release/liaison bench --skip-crypto --recipients 1 --in-flight 256 \
    --bulletins "$messages" --latency-seconds 5 >"$work/liaison.txt"
cat "$work/liaison.txt"
liaison="$(grep ' 1 recipient(s):' "$work/liaison.txt")"
python3 - "$rabbit" "$liaison" <<'PY'
import re, sys
rabbit = float(re.search(r"(\d+) msg/s confirmed", sys.argv[1]).group(1))
rabbit_e2e = float(re.search(r"(\d+) msg/s published and consumed", sys.argv[1]).group(1))
liaison = float(re.search(r"(\d+) bulletins/s", sys.argv[2]).group(1))
print(f"liaison end to end, 1 recipient: {liaison:.0f}/s = {liaison / rabbit:.3f}x RabbitMQ's "
      f"confirmed-publish rate ({rabbit:.0f}/s), {liaison / rabbit_e2e:.3f}x its "
      f"publish-and-consume rate ({rabbit_e2e:.0f}/s)")
PY
