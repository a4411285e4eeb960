#!/bin/sh
# Bring one end of a cut link back up from the OOB jail, over the management
# network, and re-add the static routes the kernel dropped with the link.
# Usage: restore-link.sh NODE IFNAME [ROUTE ...]
#   ROUTE is an 'ip route' spec such as "10.1.0.0/16 via 10.0.1.2".
# drillkit sets DRILLKIT_SSH (ssh with the lab's key) and DRILLKIT_MGMT_<NODE>.
set -eu

node=$1 ifname=$2
shift 2
var="DRILLKIT_MGMT_$(echo "$node" | tr 'a-z.-' 'A-Z__')"
eval "addr=\${$var:?no management address for node $node}"

commands="ip link set dev $ifname up"
for route in "$@"; do
    commands="$commands && ip route replace $route"
done
echo "== $node ($addr): $commands"
$DRILLKIT_SSH "root@$addr" "$commands && ip -br link show dev $ifname"
