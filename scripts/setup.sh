#!/bin/sh
# Install what drillkit needs on Debian or Ubuntu, as root: the kernel tools the
# embedded lab uses, OpenSSH, socat and ser2net for OOB access and consoles, FRR
# for router nodes, and a Python virtual environment in .venv with drillkit
# installed in editable mode.
# Usage: scripts/setup.sh [--test]   (--test adds pytest, hypothesis and Chromium)
set -eu

cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "setup needs root: labs create network namespaces, as containerlab does; run it with sudo" >&2
    exit 2
fi

packages="iproute2 nftables openssh-server openssh-client iputils-ping procps util-linux openssl socat ser2net frr python3 python3-venv python3-pip"
if [ "${1:-}" = "--test" ]; then
    packages="$packages chromium tmux"
fi

missing=""
for pkg in $packages; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
extras=""
if [ "${1:-}" = "--test" ]; then
    extras="[test]"
fi
.venv/bin/pip install -q --disable-pip-version-check -e ".$extras"
