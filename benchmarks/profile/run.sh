#!/usr/bin/env bash
# CPU profiles of CbuffTcp (`cbuff serve` with its defaults) and the plain-sockets reference under the same `cbuff bench`
# load, for the cells where CbuffTcp trails or the issue asks about, in the quiet regime (a generator that does not spin:
# cells ending in -q) as well as the thread-pool one: perf samples the server (kernel and JIT-compiled code, with .NET's
# perf map), perf stat counts its context switches and CPU. `fanout` is CbuffTcp's alone (the reference has no
# broadcast); `handshakes` runs both over TLS, and Kestrel with its TLS middleware too; `mux-c` is driven by the C
# load generator (benchmarks/LoadGen/loadgen.c). Writes docs/profiles.md. Bounded: about cells x 2 servers x (seconds + 5) s.
#
# Usage: benchmarks/profile/run.sh [seconds=8]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-8}"
port=9810
out="$(mktemp -d)"

if ! command -v perf >/dev/null 2>&1; then
  echo "installing perf..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf) >/dev/null 2>&1 || { echo "perf is needed" >&2; exit 1; }
fi

if ! command -v cc >/dev/null 2>&1; then
  echo "installing gcc (for the C load generator)..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc) >/dev/null 2>&1 || { echo "cc is needed" >&2; exit 1; }
fi

echo "building (Release)..."
dotnet build src/CbuffTcp.Cli -c Release -v q >/dev/null
dotnet build benchmarks/ReferenceServers/Sockets -c Release -v q >/dev/null
dotnet build benchmarks/ReferenceServers/Kestrel -c Release -v q >/dev/null
cbuff="src/CbuffTcp.Cli/bin/Release/net10.0/cbuff.dll"
# The C load generator of benchmarks/run.sh's -c cells.
cc -O2 -pthread -o "$out/loadgen" benchmarks/LoadGen/loadgen.c

# A throwaway certificate for the TLS cell, as benchmarks/run.sh makes.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out/key.pem" -out "$out/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
openssl pkcs12 -export -inkey "$out/key.pem" -in "$out/cert.pem" -out "$out/cert.pfx" -passout pass:

declare -A load=(
  [lat-q]="--connections 1 --size 32 --depth 1 --io inline"
  [pipe-q]="--connections 1 --size 32 --depth 64 --io inline"
  [mux-q]="--connections 100 --size 32 --depth 16 --io inline"
  [mux-c]="--connections 100 --size 32 --depth 16"
  [conns]="--connections 1000 --size 32 --depth 1"
  [conns-q]="--connections 1000 --size 32 --depth 1 --io inline"
  [bulk]="--connections 1 --size 65536 --depth 4 --io inline"
  [handshakes]="--mode handshake --connections 16 --size 32 --tls"
  [fanout]="--mode broadcast --connections 1000 --senders 1 --size 32 --depth 64"
)

for cell in lat-q pipe-q mux-q mux-c conns conns-q bulk handshakes fanout; do
  servers=(cbuff sockets)
  if [ "$cell" = handshakes ]; then servers=(cbuff sockets kestrel); fi  # Kestrel: the TLS cells' reference
  if [ "$cell" = fanout ]; then servers=(cbuff); fi  # the reference has no broadcast
  for server in "${servers[@]}"; do
    tls=""
    mode=echo
    if [ "$cell" = handshakes ]; then tls="$out/cert.pfx"; fi
    if [ "$cell" = fanout ]; then mode=broadcast; fi
    case $server in
      cbuff) cmd="dotnet $cbuff serve --host 127.0.0.1 --port $port --protocol length --mode $mode --max-connections 20000 --max-connections-per-ip 20000 --idle-timeout 0 --frame-timeout 0${tls:+ --tls-cert $tls}" ;;
      sockets) cmd="dotnet benchmarks/ReferenceServers/Sockets/bin/Release/net10.0/ref-sockets.dll $port $tls" ;;
      kestrel) cmd="dotnet benchmarks/ReferenceServers/Kestrel/bin/Release/net10.0/ref-kestrel.dll $port $tls" ;;
    esac
    generator=(dotnet "$cbuff" bench)
    if [[ $cell == *-q ]]; then generator=(env DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 dotnet "$cbuff" bench); fi
    if [[ $cell == *-c ]]; then generator=("$out/loadgen"); fi
    # The perf map names JIT-compiled methods; W^X off keeps their code in an ordinary mapping perf can attribute.
    DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 $cmd >"$out/server.log" 2>&1 &
    pid=$!
    sleep 2
    # shellcheck disable=SC2086
    "${generator[@]}" --port "$port" ${load[$cell]} --seconds "$((seconds + 2))" --warmup 1 --json "$out/$cell-$server.json" >"$out/bench.log" 2>&1 &
    bench=$!
    sleep 2
    # perf lists the process's threads when it starts; one that exits meanwhile (the thread pool retires workers) makes
    # it fail with "Couldn't create thread/CPU maps": try again, at most three times.
    for _ in 1 2 3; do
      perf stat -e context-switches,task-clock -x, -o "$out/$cell-$server.stat" -p "$pid" -- sleep "$((seconds / 2))" >/dev/null 2>&1 && break
    done
    for _ in 1 2 3; do
      perf record -e cpu-clock -F 499 -g -p "$pid" -o "$out/$cell-$server.data" -- sleep "$((seconds / 2))" >/dev/null 2>&1 && break
    done
    wait "$bench" || true
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    perf report -i "$out/$cell-$server.data" --no-children --sort dso -g none 2>/dev/null >"$out/$cell-$server.dso" || true
    perf report -i "$out/$cell-$server.data" --no-children --sort sym -g none 2>/dev/null >"$out/$cell-$server.sym" || true
    echo "  $cell $server done"
    sleep 1
  done
done

python3 benchmarks/profile/report.py "$out" "$seconds" >docs/profiles.md
echo "wrote docs/profiles.md (raw data in $out)"
