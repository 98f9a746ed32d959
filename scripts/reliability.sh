#!/usr/bin/env bash
# `make reliability`: the reliability scenarios at full size, a table of figures at the end
# (tests/reliability/results/latest.{md,json}). Like `make test`, it starts its own broker on a
# port of its own (unless STREAMAPP_TEST_BOOTSTRAP_SERVERS names one) and stops it afterwards;
# the broker-failure scenario starts its own 3-node cluster. SCALE=ci runs the small versions.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

bash scripts/system-deps.sh
export STREAMAPP_DATA_DIR="${STREAMAPP_RELIABILITY_DATA_DIR:-./var/reliability}"
if [ -n "${STREAMAPP_TEST_BOOTSTRAP_SERVERS:-}" ]; then
  export STREAMAPP_KAFKA_BOOTSTRAP_SERVERS="$STREAMAPP_TEST_BOOTSTRAP_SERVERS"
else
  export STREAMAPP_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19192
  rm -rf "$STREAMAPP_DATA_DIR"
  stop_broker() { $BIN/streamapp broker stop >/dev/null || true; }
  trap stop_broker EXIT
  echo "== starting a broker for the scenarios on $STREAMAPP_KAFKA_BOOTSTRAP_SERVERS"
  $BIN/streamapp broker start
fi

echo "== reliability scenarios (${SCALE:-full} scale)"
$BIN/python -m tests.reliability.run --scale "${SCALE:-full}" "$@"
