#!/usr/bin/env bash
# The whole classroom setup on one machine, every address on loopback: a Ray head (the
# registry and the run store live there; it trains nothing), one Ray worker node (it
# trains), two web replicas (`python -m playground serve`) and nginx in front of them.
# Students would reach only the proxy; here it is http://127.0.0.1:$PROXY_PORT/.
#
#   deploy/one_machine.sh start    # or: stop, status
#
# Settings (environment): PYTHON (default .venv/bin/python), DEPLOY_DIR (logs, pids, the
# Ray token, the run store; default /tmp/playground-deploy), PROXY_PORT (8080), RAY_PORT
# (6380), REPLICA_PORTS ("8511 8512"), WORKER_CPUS (cores of the worker node; default all),
# PLAYGROUND_DATA as usual.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
RAY="$(dirname "$PYTHON")/ray"
DEPLOY_DIR="${DEPLOY_DIR:-/tmp/playground-deploy}"
PROXY_PORT="${PROXY_PORT:-8080}"
RAY_PORT="${RAY_PORT:-6380}"
REPLICA_PORTS="${REPLICA_PORTS:-8511 8512}"
WORKER_CPUS="${WORKER_CPUS:-$(nproc)}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# Every Ray process, on every node, checks this token (never turn it off: anyone who
# reaches a Ray port could otherwise run code on the cluster).
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH="$DEPLOY_DIR/ray_token"

start() {
  mkdir -p "$DEPLOY_DIR/logs" "$DEPLOY_DIR/state"
  chmod 700 "$DEPLOY_DIR"
  if [ ! -s "$RAY_AUTH_TOKEN_PATH" ]; then
    (umask 077 && "$PYTHON" -c "import secrets; print(secrets.token_hex(32))" > "$RAY_AUTH_TOKEN_PATH")
  fi
  bash "$ROOT/scripts/ensure_nginx.sh"
  [ -x "$NGINX" ] || NGINX="$(command -v nginx)"

  # Ray's ports (GCS, object manager, node manager, workers) on loopback only; no
  # dashboard and no Ray Client server.
  "$RAY" start --head --node-ip-address 127.0.0.1 --port "$RAY_PORT" --num-cpus 0 \
      --include-dashboard false --disable-usage-stats \
      --temp-dir "$DEPLOY_DIR/ray" > "$DEPLOY_DIR/logs/ray-head.log" 2>&1
  "$RAY" start --address "127.0.0.1:$RAY_PORT" --node-ip-address 127.0.0.1 \
      --num-cpus "$WORKER_CPUS" --disable-usage-stats > "$DEPLOY_DIR/logs/ray-worker.log" 2>&1

  local replicas=""
  for port in $REPLICA_PORTS; do
    PLAYGROUND_EXECUTOR=ray RAY_ADDRESS="127.0.0.1:$RAY_PORT" \
    PLAYGROUND_STATE="$DEPLOY_DIR/state" PLAYGROUND_TRUSTED_PROXIES=127.0.0.1 \
      nohup "$PYTHON" -m playground serve --port "$port" --address 127.0.0.1 \
      > "$DEPLOY_DIR/logs/replica-$port.log" 2>&1 &
    echo $! > "$DEPLOY_DIR/replica-$port.pid"
    replicas="$replicas        server 127.0.0.1:$port;\n"
  done
  sed -e "s|@PREFIX@|$DEPLOY_DIR|g" -e "s|@PROXY_LISTEN@|127.0.0.1:$PROXY_PORT|" \
      -e "s|@REPLICAS@|$replicas|" "$ROOT/deploy/nginx.conf" > "$DEPLOY_DIR/nginx.conf"
  "$NGINX" -t -q -c "$DEPLOY_DIR/nginx.conf" -p "$DEPLOY_DIR"
  "$NGINX" -c "$DEPLOY_DIR/nginx.conf" -p "$DEPLOY_DIR"

  for port in $REPLICA_PORTS; do
    wait_for "http://127.0.0.1:$port/_stcore/health" "replica on port $port" \
             "$DEPLOY_DIR/logs/replica-$port.log"
  done
  wait_for "http://127.0.0.1:$PROXY_PORT/_stcore/health" "the proxy" \
           "$DEPLOY_DIR/logs/../nginx-error.log"
  echo "ready: http://127.0.0.1:$PROXY_PORT/ (logs in $DEPLOY_DIR/logs)"
}

wait_for() {  # URL, what, log: up within 120 s, or say why and stop everything
  for _ in $(seq 240); do
    if "$PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "$1" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "error: $2 did not come up; last lines of $3:" >&2
  tail -5 "$3" >&2 || true
  stop
  exit 1
}

stop() {
  if [ -f "$DEPLOY_DIR/nginx.pid" ]; then
    "$NGINX" -s stop -c "$DEPLOY_DIR/nginx.conf" -p "$DEPLOY_DIR" 2>/dev/null || true
  fi
  for pidfile in "$DEPLOY_DIR"/replica-*.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  # Stops the Ray processes this machine runs (the head and the worker started above).
  "$RAY" stop --force > /dev/null 2>&1 || true
  echo "stopped"
}

status() {
  "$RAY" status --address "127.0.0.1:$RAY_PORT" 2>&1 | sed -n '1,20p' || true
  for port in $REPLICA_PORTS; do
    curl -fsS "http://127.0.0.1:$port/_stcore/health" >/dev/null 2>&1 \
      && echo "replica $port: up" || echo "replica $port: down"
  done
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
