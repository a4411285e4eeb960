#!/bin/sh
# Start a Toxiproxy server in the current lab node and wait until its API accepts connections.
#
# Usage: start-toxiproxy.sh API_HOST:API_PORT PROXIES_JSON
#
# Runs the real toxiproxy-server when it is on the PATH. Otherwise it runs
# drillkit's stand-in (drillkit/lab/toxiproxy_standin.py), with the first of:
#   1. $DRILLKIT_PYTHON -m drillkit.lab.toxiproxy_standin, when DRILLKIT_PYTHON is set;
#   2. python3 -m drillkit.lab.toxiproxy_standin, when that python3 can import drillkit;
#   3. python3 DRILLKIT_CHECKOUT/drillkit/lab/toxiproxy_standin.py, the module run as a
#      plain file (it needs only the standard library). DRILLKIT_CHECKOUT defaults to
#      two folders above the working directory, which is this lab's folder when the
#      netns backend runs the node's exec commands.
# The server's log goes to this script's standard output, which the netns backend
# writes to /run/drillkit/labs/<lab>/<node>.exec.log.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 API_HOST:API_PORT PROXIES_JSON" >&2
    exit 2
fi
api="$1"
config="$2"
api_host="${api%:*}"
api_port="${api##*:}"
if [ ! -r "$config" ]; then
    echo "start-toxiproxy: proxies file $config not found or not readable" >&2
    exit 1
fi

checkout="${DRILLKIT_CHECKOUT:-$(pwd)/../..}"
if command -v toxiproxy-server >/dev/null 2>&1; then
    echo "start-toxiproxy: starting toxiproxy-server on $api"
    toxiproxy-server -host "$api_host" -port "$api_port" -config "$config" &
elif [ -n "${DRILLKIT_PYTHON:-}" ]; then
    echo "start-toxiproxy: toxiproxy-server not on the PATH; starting the stand-in with $DRILLKIT_PYTHON"
    "$DRILLKIT_PYTHON" -m drillkit.lab.toxiproxy_standin --listen "$api" --config "$config" &
elif python3 -c 'import drillkit.lab.toxiproxy_standin' >/dev/null 2>&1; then
    echo "start-toxiproxy: toxiproxy-server not on the PATH; starting the stand-in with python3"
    python3 -m drillkit.lab.toxiproxy_standin --listen "$api" --config "$config" &
elif [ -f "$checkout/drillkit/lab/toxiproxy_standin.py" ]; then
    echo "start-toxiproxy: toxiproxy-server not on the PATH; starting the stand-in from $checkout"
    python3 "$checkout/drillkit/lab/toxiproxy_standin.py" --listen "$api" --config "$config" &
else
    echo "start-toxiproxy: neither toxiproxy-server nor drillkit's stand-in found; install Toxiproxy, or set" \
         "DRILLKIT_PYTHON to the Python that runs drillkit (e.g. .venv/bin/python)" >&2
    exit 1
fi
server=$!

# Wait up to 10 s (100 tries, 0.1 s apart) for the API to accept connections.
tries=0
until python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.5).close()' \
        "$api_host" "$api_port" 2>/dev/null; do
    if ! kill -0 "$server" 2>/dev/null; then
        echo "start-toxiproxy: the Toxiproxy server exited before its API accepted connections on $api" >&2
        exit 1
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then
        echo "start-toxiproxy: the Toxiproxy API did not accept connections on $api within 10 s" >&2
        exit 1
    fi
    sleep 0.1
done
echo "start-toxiproxy: API accepts connections on $api"
