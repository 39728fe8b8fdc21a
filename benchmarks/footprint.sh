#!/usr/bin/env bash
# A build's memory footprint, as benchmarks/run.sh measures it, without the rest of the run: server RSS per idle
# connection at 19,000 (the `idle` cell), then the server's peak RSS after the `conns` load (1,000 connections, 32 B, 1 in
# flight, 5 s) on a fresh server. For A/B of two builds back to back: run it on each, alternating.
#
# Usage: benchmarks/footprint.sh [cbuff.dll=the Release build here] [port=9870]      (SKIP_IDLE=1: the conns part only)
set -euo pipefail
cd "$(dirname "$0")/.."
cbuff="${1:-src/CbuffTcp.Cli/bin/Release/net10.0/cbuff.dll}"; port="${2:-9870}"; out=$(mktemp -d)
[ -f "$cbuff" ] || dotnet build src/CbuffTcp.Cli -c Release -v q >/dev/null
if [ -z "${SKIP_IDLE:-}" ]; then
dotnet $cbuff serve --host 127.0.0.1 --port $port --protocol length --mode echo --max-connections 20000 --max-connections-per-ip 20000 --idle-timeout 0 --frame-timeout 0 >$out/s.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" $out/s.log && break; sleep 0.1; done
sleep 1.5
before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
dotnet $cbuff bench --port $port --mode idle --connections 19000 --seconds 6 >$out/idle.log 2>&1 &
b=$!
for _ in $(seq 1 120); do grep -q "^connected" $out/idle.log && break; sleep 0.5; done
sleep 2
after=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
wait $b || true
kill $pid; wait $pid 2>/dev/null || true
echo "idle $(( (after - before) * 1024 / 19000 )) B/conn"
fi
sleep 1
dotnet $cbuff serve --host 127.0.0.1 --port $((port+1)) --protocol length --mode echo --max-connections 20000 --max-connections-per-ip 20000 --idle-timeout 0 --frame-timeout 0 >$out/s2.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "listening on" $out/s2.log && break; sleep 0.1; done
sleep 0.5
dotnet $cbuff bench --port $((port+1)) --connections 1000 --size 32 --depth 1 --seconds 5 --warmup 1 >$out/c.log 2>&1 || true
echo "conns peak $(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status) MiB"
kill $pid; wait $pid 2>/dev/null || true
