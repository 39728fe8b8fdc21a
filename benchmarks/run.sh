#!/usr/bin/env bash
# End-to-end benchmark: CbuffTcp (`cbuff serve` with its defaults) against three reference servers doing the same framed
# echo (4-byte big-endian length, then the payload): plain Socket + Pipelines, Kestrel as a raw TCP server, DotNetty; and a
# minimal C epoll echo as the floor. All built in Release, run one at a time on 127.0.0.1, cell by cell with each server in
# turn (the order rotates each pass), each cell driven by `cbuff bench` in two regimes (the thread-pool generator, and a
# quiet one: cells ending in -q) and by a second generator written in C (benchmarks/LoadGen/loadgen.c: cells ending in
# -c), with the loopback ceiling measured by iperf3 in each pass. TLS cells (tls, handshakes)
# run CbuffTcp, the sockets server over SslStream and Kestrel with its TLS middleware, on a throwaway certificate made
# here with openssl. Writes docs/benchmarks.md.
#
# Usage: benchmarks/run.sh [passes=3] [seconds per cell=5]     Bounded: about 20 minutes per pass with 5-second cells.
set -euo pipefail
cd "$(dirname "$0")/.."
passes="${1:-3}"
seconds="${2:-5}"
warmup=1
port=9800
out="$(mktemp -d)"
results="$out/results.jsonl"
: >"$results"

install_missing() { # command debian-package: installs the package when the command is missing, or stops the run
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2") >/dev/null 2>&1 || { echo "$1 is needed (apt-get install $2)" >&2; exit 1; }
}
install_missing cc gcc          # the C floor and the C load generator
install_missing openssl openssl # the TLS cells' throwaway certificate
install_missing iperf3 iperf3   # the loopback ceiling

echo "building (Release)..."
dotnet build src/CbuffTcp.Cli -c Release -v q >/dev/null
for ref in Sockets Kestrel DotNetty; do dotnet build "benchmarks/ReferenceServers/$ref" -c Release -v q >/dev/null; done
# The floor: a minimal epoll echo in C (benchmarks/ReferenceServers/EpollC), built here with the system's cc.
cc -O2 -pthread -o "$out/epoll-c" benchmarks/ReferenceServers/EpollC/echo.c
# The second load generator, also C: no figure should hold for `cbuff bench` alone.
cc -O2 -pthread -o "$out/loadgen" benchmarks/LoadGen/loadgen.c
cbuff="src/CbuffTcp.Cli/bin/Release/net10.0/cbuff.dll"
# A throwaway self-signed certificate for the TLS cells (P-256, as a production server would have).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$out/key.pem" -out "$out/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null
openssl pkcs12 -export -inkey "$out/key.pem" -in "$out/cert.pem" -out "$out/cert.pfx" -passout pass:
tls=""  # set to the certificate while a TLS cell runs

server_command() {
  case "$1" in
    # The default configuration (IoMode.Auto: CbuffTcp's I/O threads on Linux); only the limits a load test exceeds are raised.
    cbuff) echo "dotnet $cbuff serve --host 127.0.0.1 --port $port --protocol length --mode ${2:-echo} --max-connections 20000 --max-connections-per-ip 20000 --idle-timeout 0 --frame-timeout 0${tls:+ --tls-cert $tls}" ;;
    cbuff-tp) echo "dotnet $cbuff serve --host 127.0.0.1 --port $port --protocol length --mode ${2:-echo} --max-connections 20000 --max-connections-per-ip 20000 --idle-timeout 0 --frame-timeout 0 --io threadpool" ;;
    sockets) echo "dotnet benchmarks/ReferenceServers/Sockets/bin/Release/net10.0/ref-sockets.dll $port $tls" ;;
    # The same sockets server with the runtime's socket continuations run inline on its epoll thread (a process-wide
    # environment switch; handlers then run there, as with CbuffTcp's I/O threads): shown for comparison, not a target.
    sockets-inline) echo "env DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 dotnet benchmarks/ReferenceServers/Sockets/bin/Release/net10.0/ref-sockets.dll $port" ;;
    kestrel) echo "dotnet benchmarks/ReferenceServers/Kestrel/bin/Release/net10.0/ref-kestrel.dll $port $tls" ;;
    dotnetty) echo "dotnet benchmarks/ReferenceServers/DotNetty/bin/Release/net10.0/ref-dotnetty.dll $port" ;;
    epoll-c) echo "$out/epoll-c $port" ;;
  esac
}

start_server() { # name [mode]
  $(server_command "$@") >"$out/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if grep -q "listening on" "$out/server.log"; then
      sleep 0.5
      start_rss=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
      return 0
    fi
    sleep 0.1
  done
  echo "$1 did not start:" >&2; cat "$out/server.log" >&2; exit 1
}

stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; sleep 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$server_pid/status"; }

run_cell() { # server pass cell bench-args...
  local server=$1 pass=$2 cell=$3; shift 3
  local before after json="$out/$server-$pass-$cell.json"
  before=$(cpu_ticks)
  # The quiet regime (cells ending in -q): a generator that does not spin, so the server is not kept warm by its load
  # generator's idle cores (socket continuations inline on the engine thread, no thread-pool spinning).
  local generator=(dotnet "$cbuff" bench)
  if [[ $cell == *-q ]]; then generator=(env DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 dotnet "$cbuff" bench); fi
  if [[ $cell == *-c ]]; then generator=("$out/loadgen"); fi
  if ! "${generator[@]}" --port "$port" --seconds "$seconds" --warmup "$warmup" --json "$json" "$@" >"$out/bench.log" 2>&1; then
    echo "  $server $cell: bench reported errors: $(grep -m1 first: "$out/bench.log" || tail -1 "$out/bench.log")" >&2
  fi
  after=$(cpu_ticks)
  python3 - "$json" "$server" "$pass" "$cell" "$(( after - before ))" "$(peak_rss_kib)" "$(getconf CLK_TCK)" "$warmup" "$start_rss" >>"$results" <<'PY'
import json, sys
path, server, run, cell, ticks, rss, hz, warmup, start = sys.argv[1:]
r = json.load(open(path))
r.update(server=server, run=int(run), cell=cell, serverCpuSeconds=int(ticks) / int(hz), serverPeakRssKib=int(rss),
         serverStartRssKib=int(start), warmup=float(warmup))
print(json.dumps(r))
PY
  printf "  %-9s %-6s %12.0f msg/s  p99 %9.1f us  %8.1f MB/s  errors %s\n" "$server" "$cell" \
    "$(python3 -c "import json;print(json.load(open('$json'))['messagesPerSecond'])")" \
    "$(python3 -c "import json;print(json.load(open('$json'))['latencyMicroseconds']['p99'])")" \
    "$(python3 -c "import json;print(json.load(open('$json'))['megabytesPerSecond'])")" \
    "$(python3 -c "import json;print(json.load(open('$json'))['errors'])")"
}

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status"; }

run_idle() { # server pass: server RSS per idle connection at 19,000 (the load generator holds them from its own process)
  local server=$1 pass=$2 before after
  start_server "$server"
  sleep 1
  before=$(rss_kib)
  dotnet "$cbuff" bench --port "$port" --mode idle --connections 19000 --seconds 6 >"$out/idle.log" 2>&1 &
  local bench=$!
  for _ in $(seq 1 120); do grep -q "^connected" "$out/idle.log" && break; sleep 0.5; done
  sleep 2
  after=$(rss_kib)
  local status=0
  wait "$bench" || status=$?
  stop_server
  echo "{\"server\": \"$server\", \"cell\": \"idle\", \"run\": $pass, \"connections\": 19000, \"rssBeforeKib\": $before, \"rssAfterKib\": $after, \"errors\": $status}" >>"$results"
  printf "  %-9s %-6s %8.0f bytes of server RSS per idle connection (%s)\n" "$server" idle "$(( (after - before) * 1024 / 19000 ))" "$(tail -1 "$out/idle.log")"
}

run_iperf3() { # pass: the loopback ceiling, measured in each pass just before that pass's bulk cells (the host drifts)
  iperf3 -s -1 -p $((port + 1)) >/dev/null 2>&1 &
  local iperf_server=$!
  sleep 0.5
  iperf3 -c 127.0.0.1 -p $((port + 1)) -t "$seconds" -J >"$out/iperf3-$1.json"
  wait "$iperf_server" || true
  python3 -c "import json;b=json.load(open('$out/iperf3-$1.json'))['end']['sum_received']['bits_per_second'];print(json.dumps({'server':'iperf3','cell':'bulk','run':$1,'megabytesPerSecond':b/8/1e6}))" >>"$results"
  printf "  %-9s %-6s %37.1f MB/s\n" iperf3 bulk "$(tail -1 "$results" | python3 -c "import json,sys;print(json.load(sys.stdin)['megabytesPerSecond'])")"
}

servers=(cbuff cbuff-tp sockets sockets-inline kestrel dotnetty epoll-c)
tls_servers=(cbuff sockets kestrel)  # the default configuration's TLS: one column for CbuffTcp
cells=(conns lat pipe mux bulk bulk-tp c10k conns-q lat-q pipe-q mux-q c10k-q conns-c lat-c pipe-c mux-c bulk-c c10k-c tls tls-q
  handshakes handshakes-q)
cell_args() {
  case "$1" in
    bulk-tp) echo "--connections 1 --size 65536 --depth 4" ;;
    conns) echo "--connections 1000 --size 32 --depth 1" ;;
    # 10,000 connections from one generator process: 10,000 descriptors each side, under the 20,000 a process may hold.
    c10k) echo "--connections 10000 --size 32 --depth 1" ;;
    tls) echo "--connections 100 --size 1024 --depth 16 --tls" ;;
    handshakes) echo "--mode handshake --connections 16 --size 32 --tls" ;;
    lat) echo "--connections 1 --size 32 --depth 1" ;;
    pipe) echo "--connections 1 --size 32 --depth 64" ;;
    mux) echo "--connections 100 --size 32 --depth 16" ;;
    bulk) echo "--connections 1 --size 65536 --depth 4 --io inline" ;;
    *-q) echo "$(cell_args "${1%-q}") --io inline" ;;
    # The C generator: one thread, level-triggered epoll, never spinning; it takes the same connections, size and depth.
    *-c) cell_args "${1%-c}" | sed 's/ --io inline//' ;;
  esac
}

# In `bulk` the generator is the busier process (it checks every byte it gets back): it runs its socket continuations
# inline on the runtime's socket engine thread (`--io inline`), which costs it about half the CPU per byte, so the
# cell measures the servers rather than the generator. `bulk-tp` is the same load with the thread-pool generator of
# every other cell, for comparison. Not a target cell.

# Cell by cell, each server in turn on a fresh process (the order rotates each pass): servers compared in a cell run
# seconds apart, so the host's drift over a pass (the machine is shared) falls on all of them alike, not on whoever ran
# last. Every cell starts from a fresh server, so each has the same warm-up, and peak RSS after `conns` is that cell's.
for pass in $(seq 1 "$passes"); do
  echo "pass $pass of $passes"
  for cell in "${cells[@]}"; do
    if [ "$cell" = bulk ]; then run_iperf3 "$pass"; fi
    cell_servers=("${servers[@]}")
    tls=""
    if [[ $cell == tls* || $cell == handshakes* ]]; then cell_servers=("${tls_servers[@]}"); tls="$out/cert.pfx"; fi
    for i in "${!cell_servers[@]}"; do
      server=${cell_servers[$(( (i + pass - 1) % ${#cell_servers[@]} ))]}
      start_server "$server"
      # shellcheck disable=SC2046
      run_cell "$server" "$pass" "$cell" $(cell_args "$cell")
      stop_server
    done
  done
  tls=""
  for cell in fanout fanout-q; do # the broadcast cell, in both generator regimes
    start_server cbuff broadcast
    # shellcheck disable=SC2046
    run_cell cbuff "$pass" "$cell" --mode broadcast --connections 1000 --senders 1 --size 32 --depth 64 $([ "$cell" = fanout-q ] && echo --io inline)
    stop_server
  done
  for i in "${!servers[@]}"; do run_idle "${servers[$(( (i + pass - 1) % ${#servers[@]} ))]}" "$pass"; done
done

python3 benchmarks/report.py "$results" "$passes" "$seconds" >docs/benchmarks.md
cp "$results" docs/benchmarks-results.jsonl
echo "wrote docs/benchmarks.md (raw figures: docs/benchmarks-results.jsonl)"
