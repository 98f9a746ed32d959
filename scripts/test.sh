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

source scripts/own-broker.sh
own_broker 19092 "${STREAMAPP_TEST_DATA_DIR:-./var/test}"
export STREAMAPP_TEST_BROKER_STARTED=$OWN_BROKER_STARTED

echo "== pytest"
$BIN/pytest -q -p no:cacheprovider --durations=15 "$@"
