#!/bin/sh
# Set up and run the test suite (real labs: needs root).
set -eu

cd "$(dirname "$0")/.."
sh scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
