#!/usr/bin/env bash
# `make test`: lint, type-check, then every test; the end-to-end tests run against a real
# Apache Kafka broker that this script starts on a test port (unless
# STREAMAPP_TEST_BOOTSTRAP_SERVERS names one) and stops again, also when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

bash scripts/system-deps.sh
if [ ! -d tests/clients/node/node_modules/@segment/analytics-node ]; then
  echo "== installing @segment/analytics-node (npm)"
  (cd tests/clients/node && npm install --no-package-lock --no-audit --no-fund --silent)
fi

echo "== ruff"
$BIN/ruff check .
$BIN/ruff format --check .
echo "== mypy --strict"
$BIN/mypy

started=0
export STREAMAPP_DATA_DIR="${STREAMAPP_TEST_DATA_DIR:-./var/test}"
if [ -n "${STREAMAPP_TEST_BOOTSTRAP_SERVERS:-}" ]; then
  export STREAMAPP_KAFKA_BOOTSTRAP_SERVERS="$STREAMAPP_TEST_BOOTSTRAP_SERVERS"
else
  export STREAMAPP_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092
  rm -rf "$STREAMAPP_DATA_DIR"
  stop_broker() { $BIN/streamapp broker stop >/dev/null || true; }
  trap stop_broker EXIT
  echo "== starting the test broker on $STREAMAPP_KAFKA_BOOTSTRAP_SERVERS"
  $BIN/streamapp broker start
  started=1
fi
export STREAMAPP_TEST_BROKER_STARTED=$started

echo "== pytest"
$BIN/pytest -q -p no:cacheprovider --durations=15 "$@"
