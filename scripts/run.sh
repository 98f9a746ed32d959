#!/usr/bin/env bash
# `make run`: the embedded broker plus one worker with the topologies in topologies/.
# Ctrl-C stops everything this script started (worker first, then the broker).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export STREAMAPP_DATA_DIR="${STREAMAPP_DATA_DIR:-./var/run}"
export STREAMAPP_WRITE_KEYS="${STREAMAPP_WRITE_KEYS:-dev-write-key}"
export STREAMAPP_API_TOKEN="${STREAMAPP_API_TOKEN:-dev-token}"
port="${STREAMAPP_WEB_PORT:-6066}"

worker_pid=""
started_broker=0
cleanup() {
  trap - INT TERM EXIT
  if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then
    echo "stopping worker (pid $worker_pid)"
    kill -TERM "$worker_pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$worker_pid" 2>/dev/null || true
  fi
  if [ "$started_broker" = 1 ]; then
    echo "stopping broker"
    $BIN/streamapp broker stop || true
  fi
}
trap cleanup INT TERM EXIT

if ! $BIN/streamapp broker status | grep -q "state: running"; then
  $BIN/streamapp broker start
  started_broker=1
fi
$BIN/streamapp topics >/dev/null
mkdir -p "$STREAMAPP_DATA_DIR"
$BIN/streamapp worker -l info >"$STREAMAPP_DATA_DIR/worker.log" 2>&1 &
worker_pid=$!

for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$worker_pid" 2>/dev/null || { echo "worker died; see $STREAMAPP_DATA_DIR/worker.log"; tail -20 "$STREAMAPP_DATA_DIR/worker.log"; exit 1; }
  sleep 0.5
done

cat <<TXT

streamapp is running.
  operator UI http://127.0.0.1:$port/ui  (log in with the token $STREAMAPP_API_TOKEN)
  health      curl http://127.0.0.1:$port/health
  metrics     curl http://127.0.0.1:$port/metrics
  ingest      curl -u $STREAMAPP_WRITE_KEYS: -H 'Content-Type: application/json' \\
                -d '{"userId":"u1","event":"Signed Up"}' http://127.0.0.1:$port/v1/track
  profile     curl -H 'Authorization: Bearer $STREAMAPP_API_TOKEN' http://127.0.0.1:$port/profiles/u1
  aggregates  curl -H "Authorization: Bearer $STREAMAPP_API_TOKEN" "http://127.0.0.1:$port/aggregates/events_per_minute?key=Signed%20Up"
  write key   $STREAMAPP_WRITE_KEYS
  broker      $($BIN/streamapp broker status | grep -E 'bootstrap' | sed 's/^ *//')
  logs        $STREAMAPP_DATA_DIR/worker.log and $STREAMAPP_DATA_DIR/broker/logs/
Ctrl-C stops the worker and the broker.
TXT
wait "$worker_pid"
