#!/usr/bin/env bash
# Lookups per second of `schemaflow registry serve`, measured with wrk (an
# external load generator, so the client does not share the Go runtime).
#
#   registry/server/bench/wrk.sh [BINARY[:ENGINE]...]    default: bin/schemaflow
#
# BINARY:ENGINE serves with `--http-engine ENGINE` (fasthttp or net); a
# BINARY alone serves with its default engine (so an older binary without
# the flag can be compared). For each server: start `BINARY registry serve
# --store memory` on a free loopback port, register 100 Avro schemas
# (subjects s0..s99), then run wrk against GET /schemas/ids/{id} and POST
# /subjects/{s} (lookup) with each THREADS count, ROUNDS times, alternating
# the servers so that they see the same machine load. Prints one line per
# run:
#
#   ids      t2 round 1  bin/schemaflow:fasthttp       67123.45 req/s   14.9 us-cpu/req
#
# us-cpu/req is the server's CPU time (user and system) per request, read
# from /proc: what each engine costs, less dependent than req/s on what
# else runs on the machine.
#
# A run with non-2xx answers or socket errors is marked ERRORS and makes
# the script exit 1. Needs wrk, curl and python3 (Debian packages).
# Environment: DURATION (default 5s), CONNS (64), THREADS (wrk threads, a
# list: default "1 2"), ROUNDS (2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DURATION=${DURATION:-5s} CONNS=${CONNS:-64} THREADS=${THREADS:-1 2} ROUNDS=${ROUNDS:-2}
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "wrk.sh: $tool not found (apt-get install $tool)" >&2; exit 2; }
done
specs=("$@")
[ ${#specs[@]} -gt 0 ] || specs=(bin/schemaflow)
pids=() urls=() logs=()
tmp=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
for spec in "${specs[@]}"; do
  bin=$spec args=()
  case "$spec" in
    *:*) bin=${spec%:*} args=(--http-engine "${spec##*:}") ;;
  esac
  [ -x "$bin" ] || { echo "wrk.sh: $bin is not an executable" >&2; exit 2; }
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log="$tmp/server-${#pids[@]}.log"
  "$bin" registry serve --listen "127.0.0.1:$port" --store memory "${args[@]}" >"$log" 2>&1 &
  pids+=($!) logs+=("$log")
  url="http://127.0.0.1:$port"
  up=
  for _ in $(seq 100); do curl -sf "$url/" >/dev/null && up=1 && break; sleep 0.1; done
  [ -n "$up" ] || { echo "wrk.sh: $spec did not start serving on $url" >&2; exit 1; }
  for i in $(seq 0 99); do
    schema=$(printf '{"type":"record","name":"R%d","namespace":"bench","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}},{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}}]}' "$i")
    body="{\"schema\":\"${schema//\"/\\\"}\"}"
    curl -sf -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' -d "$body" "$url/subjects/s$i/versions" >/dev/null
  done
  urls+=("$url")
done
# cputicks is the user and system CPU time of process $1, in clock ticks.
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
failed=0
for round in $(seq "$ROUNDS"); do
  for threads in $THREADS; do
    for kind in ids lookup; do
      for n in "${!specs[@]}"; do
        cpu0=$(cputicks "${pids[$n]}")
        if ! out=$(wrk -t"$threads" -c"$CONNS" -d"$DURATION" -s "$here/$kind.lua" "${urls[$n]}" 2>&1) ||
          ! kill -0 "${pids[$n]}" 2>/dev/null; then
          echo "wrk.sh: $kind against ${specs[$n]} failed:" >&2
          echo "$out" >&2
          echo "server output:" >&2
          tail -20 "${logs[$n]}" >&2
          exit 1
        fi
        cpu1=$(cputicks "${pids[$n]}")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        reqs=$(awk '/requests in/ {print $1}' <<<"$out")
        # The server's CPU time per request (user + system, in clock
        # ticks of /proc/PID/stat): what the engine costs, less
        # dependent on the machine's other load than req/s.
        cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b - a) * 1e6 / hz / n }')
        mark=
        if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
          mark="  ERRORS: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ')"
          failed=1
        fi
        printf '%-8s t%d round %d  %-40s %10s req/s %6s us-cpu/req%s\n' "$kind" "$threads" "$round" "${specs[$n]}" "$rps" "$cpu" "$mark"
      done
    done
  done
done
exit "$failed"
