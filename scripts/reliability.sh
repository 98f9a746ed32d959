#!/usr/bin/env bash
# `make reliability`: the reliability scenarios at full size, a table of figures at the end
# (tests/reliability/results/latest.{md,json}). Like `make test`, it starts its own broker on a
# port of its own (unless STREAMAPP_TEST_BOOTSTRAP_SERVERS names one) and stops it afterwards;
# the broker-failure scenario starts its own 3-node cluster. SCALE=ci runs the small versions.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

bash scripts/system-deps.sh
source scripts/own-broker.sh
own_broker 19192 "${STREAMAPP_RELIABILITY_DATA_DIR:-./var/reliability}"

echo "== reliability scenarios (${SCALE:-full} scale)"
$BIN/python -m tests.reliability.run --scale "${SCALE:-full}" "$@"
