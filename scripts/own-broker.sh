# Sourced by scripts/test.sh and scripts/reliability.sh: point the run at a broker of its own.
#   own_broker PORT DATA_DIR
# With STREAMAPP_TEST_BOOTSTRAP_SERVERS set, that broker is used and nothing is started.
# Otherwise a fresh embedded broker starts on 127.0.0.1:PORT with its data in DATA_DIR, and an
# EXIT trap stops it again, also when a test fails. Sets OWN_BROKER_STARTED to 1 or 0.
own_broker() {
  local port="$1" data_dir="$2"
  export STREAMAPP_DATA_DIR="$data_dir"
  OWN_BROKER_STARTED=0
  if [ -n "${STREAMAPP_TEST_BOOTSTRAP_SERVERS:-}" ]; then
    export STREAMAPP_KAFKA_BOOTSTRAP_SERVERS="$STREAMAPP_TEST_BOOTSTRAP_SERVERS"
    return
  fi
  export STREAMAPP_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$port"
  rm -rf "$STREAMAPP_DATA_DIR"
  trap '.venv/bin/streamapp broker stop >/dev/null || true' EXIT
  echo "== starting a broker on $STREAMAPP_KAFKA_BOOTSTRAP_SERVERS"
  .venv/bin/streamapp broker start
  OWN_BROKER_STARTED=1
}
