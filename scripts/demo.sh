#!/bin/sh
# The main job: set up, build the bundled edge-ai lab, run the uplink-cut drill,
# tear the lab down, and print the verdict and the report path.
set -eu

cd "$(dirname "$0")/.."
sh scripts/setup.sh
exec .venv/bin/drillkit run scenarios/edge-uplink-cut.yaml --lab-up "$@"
