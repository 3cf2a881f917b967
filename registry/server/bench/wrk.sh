#!/usr/bin/env bash
# Lookups per second of `schemaflow registry serve`, measured with wrk (an
# external load generator, so the client does not share the Go runtime).
#
#   registry/server/bench/wrk.sh [BINARY...]      default: bin/schemaflow
#
# For each binary: start `BINARY registry serve --store memory` on a free
# loopback port, register 100 Avro schemas (subjects s0..s99), then run wrk
# against GET /schemas/ids/{id} and POST /subjects/{s} (lookup), ROUNDS
# times (default 2), alternating the binaries so that they see the same
# machine load. Prints one line per run. Needs wrk and curl (Debian
# packages). Environment: DURATION (default 5s), CONNS (64), THREADS (1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DURATION=${DURATION:-5s} CONNS=${CONNS:-64} THREADS=${THREADS:-1} ROUNDS=${ROUNDS:-2}
command -v wrk >/dev/null || { echo "wrk.sh: wrk not found (apt-get install wrk)" >&2; exit 2; }
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(bin/schemaflow)
pids=() urls=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for b in "${bins[@]}"; do
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$b" registry serve --listen "127.0.0.1:$port" --store memory >/dev/null 2>&1 &
  pids+=($!)
  url="http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sf "$url/" >/dev/null && break; sleep 0.1; done
  for i in $(seq 0 99); do
    schema=$(printf '{"type":"record","name":"R%d","namespace":"bench","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}' "$i")
    body="{\"schema\":\"${schema//\"/\\\"}\"}"
    curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d "$body" "$url/subjects/s$i/versions" >/dev/null
  done
  urls+=("$url")
done
for round in $(seq "$ROUNDS"); do
  for kind in ids lookup; do
    for n in "${!bins[@]}"; do
      rps=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$here/$kind.lua" "${urls[$n]}" | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "ERRORS:" $0 > "/dev/stderr"}')
      printf '%-8s round %d  %-40s %10s req/s\n' "$kind" "$round" "${bins[$n]}" "$rps"
    done
  done
done
