#!/usr/bin/env bash
# Scale-out benchmark: three `cbuff serve --redis` nodes (broadcast mode, length protocol) on one redis-server, all on
# 127.0.0.1, driven by one `cbuff bench` whose connections are spread over the three nodes (1,000 each) with one
# sender on the first: every message the sender's node relays reaches its own 1,000 clients and, through one Redis
# publish, the other two nodes' 2,000. Beside it, the same 3,000 clients on one node alone (no Redis). Counts Redis's PUBLISH
# calls (INFO commandstats) against the batches relayed, and the CPU of Redis and of each node.
#
# Usage: benchmarks/scaleout.sh [passes=3] [seconds=5]. Writes the "Scale-out" section of docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
passes="${1:-3}"
seconds="${2:-5}"
out="$(mktemp -d)"
results="$out/scaleout.jsonl"
: >"$results"

command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)" >&2; exit 1; }
echo "building (Release)..."
dotnet build src/CbuffTcp.Cli -c Release -v q >/dev/null
cbuff="src/CbuffTcp.Cli/bin/Release/net10.0/cbuff.dll"
redis_port=9850
ports=(9851 9852 9853)
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
publishes() { redis-cli -p "$redis_port" INFO commandstats | sed -n 's/^cmdstat_publish:calls=\([0-9]*\).*/\1/p' | tr -d '\r' | grep . || echo 0; }

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$out/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do redis-cli -p "$redis_port" PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done

start_nodes() { # count [--redis]
  node_pids=()
  for i in $(seq 0 $(( $1 - 1 ))); do
    # shellcheck disable=SC2086
    dotnet "$cbuff" serve --host 127.0.0.1 --port "${ports[$i]}" --protocol length --mode broadcast --max-connections 20000 \
      --max-connections-per-ip 20000 --idle-timeout 0 --frame-timeout 0 ${2:-} >"$out/node$i.log" 2>&1 &
    node_pids+=($!)
  done
  for i in $(seq 0 $(( $1 - 1 ))); do
    for _ in $(seq 1 100); do grep -q "listening on" "$out/node$i.log" && break; sleep 0.1; done
    if [ -n "${2:-}" ]; then for _ in $(seq 1 100); do grep -q "in the cluster as node" "$out/node$i.log" && break; sleep 0.1; done; fi
  done
  sleep 2 # every node's presence read by every other
}

stop_nodes() { kill "${node_pids[@]}" 2>/dev/null || true; wait "${node_pids[@]}" 2>/dev/null || true; sleep 1; }

run() { # name pass nodes connections [--redis]
  local name=$1 pass=$2 nodes=$3 connections=$4 extra=${5:-}
  start_nodes "$nodes" "$extra"
  local list; list=$(IFS=,; echo "${ports[*]:0:$nodes}")
  local redis_before node_before=() publish_before
  redis_before=$(ticks "$redis_pid"); publish_before=$(publishes)
  for pid in "${node_pids[@]}"; do node_before+=("$(ticks "$pid")"); done
  dotnet "$cbuff" bench --ports "$list" --mode broadcast --connections "$connections" --senders 1 --size 32 --depth 64 \
    --seconds "$seconds" --warmup 1 --json "$out/$name-$pass.json" >"$out/bench.log" 2>&1 || echo "  bench reported errors: $(tail -1 "$out/bench.log")" >&2
  local redis_cpu node_cpu=0 published
  redis_cpu=$(( $(ticks "$redis_pid") - redis_before )); published=$(( $(publishes) - publish_before ))
  for i in "${!node_pids[@]}"; do node_cpu=$(( node_cpu + $(ticks "${node_pids[$i]}") - ${node_before[$i]} )); done
  stop_nodes
  python3 - "$out/$name-$pass.json" "$name" "$pass" "$nodes" "$redis_cpu" "$node_cpu" "$hz" "$published" >>"$results" <<'PY'
import json, sys
path, name, run, nodes, redis, node, hz, published = sys.argv[1:]
r = json.load(open(path))
print(json.dumps(dict(name=name, run=int(run), nodes=int(nodes), deliveries=r["messagesPerSecond"], p50=r["latencyMicroseconds"]["p50"],
    p99=r["latencyMicroseconds"]["p99"], seconds=r.get("seconds"), errors=r["errors"], redisCpuSeconds=int(redis) / int(hz),
    nodeCpuSeconds=int(node) / int(hz), publishes=int(published))))
PY
  tail -1 "$results"
}

for pass in $(seq 1 "$passes"); do
  echo "pass $pass of $passes"
  run local "$pass" 1 3000
  run cluster "$pass" 3 3000 "--redis 127.0.0.1:$redis_port --redis-prefix bench$pass"
done

cp "$results" docs/benchmarks-scaleout.jsonl
python3 benchmarks/scaleout_report.py "$results" "$passes" "$seconds"
