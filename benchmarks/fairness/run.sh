#!/usr/bin/env bash
# Flooder fairness (hardening issue, fault 5), out of process: p99 round-trip latency of 100 echo clients, with and
# without one client flooding empty frames, against `cbuff serve --mode echo --protocol length` built in Release.
# Usage: benchmarks/fairness/run.sh [passes=3] [round trips per client=200] [extra cbuff serve options, e.g. --io iothreads].
# Needs python3. Bounded: ~10 s a pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
passes="${1:-3}"
trips="${2:-200}"
shift $(( $# < 2 ? $# : 2 ))
port=9500
dotnet build src/CbuffTcp.Cli -c Release -v q >/dev/null
dotnet src/CbuffTcp.Cli/bin/Release/net10.0/cbuff.dll serve --host 127.0.0.1 --port "$port" --protocol length --mode echo "$@" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 2
python3 benchmarks/fairness/echoers.py "$port" "$trips" >/dev/null # warm-up
for pass in $(seq 1 "$passes"); do
  echo "pass $pass quiet:   $(python3 benchmarks/fairness/echoers.py "$port" "$trips")"
  python3 benchmarks/fairness/flooder.py "$port" 8 &
  sleep 1
  echo "pass $pass flooded: $(python3 benchmarks/fairness/echoers.py "$port" "$trips")"
  wait %2 2>/dev/null || sleep 7
done
