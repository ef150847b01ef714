#!/usr/bin/env bash
# Makes sure NATS (with JetStream) and Redis answer on loopback: starts them when they are not
# running, installs them with apt-get when they are missing. Leaves running servers alone.
set -euo pipefail

NATS_PORT=4222
REDIS_PORT=6379
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 50); do listening "$1" && return 0; sleep 0.2; done
  echo "$2 did not start listening on 127.0.0.1:$1" >&2
  return 1
}
apt_updated=0
install_package() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

if ! listening "$NATS_PORT"; then
  nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
  if [ ! -x "$nats_bin" ]; then echo "› installing nats-server"; install_package nats-server; nats_bin=/usr/sbin/nats-server; fi
  echo "› starting nats-server with JetStream on 127.0.0.1:$NATS_PORT"
  as_root mkdir -p /var/lib/nats-server
  as_root start-stop-daemon --start --oknodo --background --exec "$nats_bin" -- -a 127.0.0.1 -p "$NATS_PORT" -js -sd /var/lib/nats-server
  wait_for "$NATS_PORT" nats-server
fi

if ! listening "$REDIS_PORT"; then
  if ! command -v redis-server >/dev/null; then echo "› installing redis-server"; install_package redis-server; fi
  echo "› starting redis-server on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no >/dev/null
  wait_for "$REDIS_PORT" redis-server
fi
