"""Turns the JSON lines of benchmarks/run.sh into docs/benchmarks.md: medians over passes, ratios to the best
reference server of the same run, and each performance target marked met or not."""
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

results_path, passes, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = [json.loads(line) for line in open(results_path)]
# iperf3 runs once per pass, just before that pass's bulk cells: the ceiling is the median, and each pass's bulk figures
# are also set against the iperf3 of their own pass.
iperf_by_pass = {r.get("run", 1): r["megabytesPerSecond"] for r in rows if r["server"] == "iperf3"}
iperf = statistics.median(iperf_by_pass.values())
runs = defaultdict(list)
for r in rows:
    if r["server"] != "iperf3":
        runs[(r["server"], r["cell"])].append(r)

REFERENCES = ["sockets", "kestrel", "dotnetty"]
FLOOR = "epoll-c"
SERVERS = ["cbuff", "cbuff-tp"] + REFERENCES + ["sockets-inline", FLOOR]
CELLS = [
    ("lat", "1 connection, 32 B, 1 in flight"),
    ("pipe", "1 connection, 32 B, 64 in flight"),
    ("mux", "100 connections, 32 B, 16 in flight"),
    ("conns", "1,000 connections, 32 B, 1 in flight"),
    ("bulk", "1 connection, 64 KiB, 4 in flight; generator `--io inline`"),
    ("bulk-tp", "`bulk`, generator on the thread pool"),
    ("lat-q", "`lat`, quiet generator"),
    ("pipe-q", "`pipe`, quiet generator"),
    ("mux-q", "`mux`, quiet generator"),
    ("conns-q", "`conns`, quiet generator"),
    ("c10k", "10,000 connections, 32 B, 1 in flight"),
    ("c10k-q", "`c10k`, quiet generator"),
    ("lat-c", "`lat`, C generator"),
    ("pipe-c", "`pipe`, C generator"),
    ("mux-c", "`mux`, C generator"),
    ("conns-c", "`conns`, C generator"),
    ("c10k-c", "`c10k`, C generator"),
    ("bulk-c", "`bulk`, C generator"),
    ("tls", "100 TLS 1.3 connections, 1 KiB, 16 in flight"),
    ("tls-q", "`tls`, quiet generator"),
    ("handshakes", "16 loops of connect, TLS 1.3 handshake, one 32 B echo, reset: connections/s"),
    ("handshakes-q", "`handshakes`, quiet generator"),
]


def median(server, cell, figure):
    values = [figure(r) for r in runs.get((server, cell), [])]
    return statistics.median(values) if values else None


def idle_bytes(r): return (r["rssAfterKib"] - r["rssBeforeKib"]) * 1024 / r["connections"]
def rate(r): return r["messagesPerSecond"]
def p99(r): return r["latencyMicroseconds"]["p99"]
def mbps(r): return r["megabytesPerSecond"]
def errors(r): return r["errors"]
def rss_mib(r): return r["serverPeakRssKib"] / 1024
def start_rss_mib(r): return r.get("serverStartRssKib", 0) / 1024 or None
def cpu_per_million(r):
    messages = r["messagesPerSecond"] * (r["seconds"] + r["warmup"])  # the server's CPU was read over warm-up + window
    return r["serverCpuSeconds"] / messages * 1e6 if messages else float("nan")


def mux_pass_ratios(run_rows):
    """Per pass: CbuffTcp's `mux` msg/s over the best reference's of the same pass, and its CPU per message over the lowest."""
    by_pass = defaultdict(dict)
    for r in run_rows:
        if r.get("cell") == "mux":
            by_pass[r["run"]][r["server"]] = r
    ratios = []
    for _, servers in sorted(by_pass.items()):
        refs = [servers[s] for s in REFERENCES if s in servers]
        if "cbuff" in servers and refs:
            ratios.append((rate(servers["cbuff"]) / max(rate(r) for r in refs),
                           cpu_per_million(servers["cbuff"]) / min(cpu_per_million(r) for r in refs)))
    return ratios


def past_runs(current_rows):
    """The runs committed in docs/benchmarks-results.jsonl since the table went cell by cell (22cff7f, 2026-11-30),
    oldest first, as (commit, date, rows); the current run's own commit, if any, left out. Empty when git or that
    history is not there (a shallow clone)."""
    def git(*args):
        repo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=repo).stdout
    try:
        log = git("log", "--reverse", "--format=%h %ad", "--date=short", "22cff7f^..HEAD", "--", "docs/benchmarks-results.jsonl")
        history = []
        for line in log.splitlines():
            commit, date = line.split()
            past = [json.loads(x) for x in git("show", f"{commit}:docs/benchmarks-results.jsonl").splitlines() if x.strip()]
            if past != current_rows:
                history.append((commit, date, past))
        return history
    except (OSError, subprocess.CalledProcessError):
        return []


def fanout_passes(run_rows):
    return [rate(r) for r in sorted(run_rows, key=lambda r: r.get("run", 0)) if r.get("cell") == "fanout" and r.get("server") == "cbuff"]


def best(cell, figure, lower_is_better=False):
    values = [(median(s, cell, figure), s) for s in REFERENCES if median(s, cell, figure) is not None]
    return (min if lower_is_better else max)(values) if values else (None, None)


def fmt(value, digits=0):
    return "n/a" if value is None else f"{value:,.{digits}f}"


out = []
w = out.append
w("# Benchmarks")
w("")
w("Produced by `benchmarks/run.sh " + f"{passes} {seconds:g}" + "` (passes, seconds per cell): CbuffTcp (`cbuff serve --protocol length")
w("--mode echo` with its defaults, column `cbuff`; with `--io threadpool`, column `cbuff-tp`) and three reference")
w("servers doing the same framed echo (4-byte big-endian length, then the payload):")
w("a plain `Socket` + `System.IO.Pipelines` server, Kestrel as a raw TCP server through a `ConnectionHandler`, and DotNetty")
w("0.7.6 with its length-field decoder (`benchmarks/ReferenceServers/`). Each runs alone on 127.0.0.1, cell by cell: every")
w("server in turn on a fresh process, in an order that rotates each pass, so the servers a cell compares ran seconds apart")
w("(the host's drift during a pass falls on all of them alike). Every cell but the `-c` ones is driven by `cbuff bench`,")
w("which checks every echoed byte. Figures are medians over the")
w("passes; ratios compare CbuffTcp with the best reference server **of the same run**. The load generator shares the")
w(f"machine ({os.cpu_count()} cores, {platform.platform()}) with the server, so absolute figures mean little; ratios are the point.")
w("")
w("`cbuff` is the library's default configuration (`IoMode.Auto`: on Linux, CbuffTcp's own I/O threads, an edge-triggered")
w("epoll per core, the read, handler and reply on that thread; [handlers.md](handlers.md#which-threads-iomode)); `cbuff-tp`")
w("is `IoMode.ThreadPool`, .NET's socket engine and thread pool, the escape for handlers that block. The targets are judged")
w("on `cbuff`, what a user gets without configuring, against the three references as they ship. TLS cells run CbuffTcp")
w("(its default configuration: a server's TLS connections run on its I/O threads since 2026-12-08 (after 3b24bbf), on the")
w("thread pool before), the sockets server over `SslStream` and Kestrel behind its")
w("TLS connection middleware (`UseHttps`), all on the same throwaway P-256 certificate; the generator speaks TLS 1.3.")
w("`sockets-inline` is the plain-sockets reference with `DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1`, the runtime's")
w("process-wide switch that runs socket continuations on its epoll thread: the nearest a hand-written server gets to the")
w("same model, shown for honesty and not counted as a reference. `epoll-c` is the physical floor, not a peer: a minimal")
w("epoll echo in C (`benchmarks/ReferenceServers/EpollC/echo.c`: a thread and an edge-triggered epoll per core, each")
w("connection reading into its own buffer and writing it back in place, no framing), built with `cc` by the script; the")
w("last column of the first table gives CbuffTcp's ratio to it, cell by cell. Cells ending in `-q` run the same load with a")
w("quiet generator: `cbuff bench --io inline` with `DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0`, so no spinning thread")
w("of the generator keeps a core awake for the server. Cells ending in `-c` run the same load from a second generator, in C")
w("(`benchmarks/LoadGen/loadgen.c`: one thread, a level-triggered epoll, never spinning, replies checked by their length")
w("header): another client stack than .NET's, and one that spends less CPU per message than `cbuff bench`, so no figure")
w("holds for one load generator only. A target holds only if it holds in every regime.")
w("")
w("## Throughput and latency")
w("")
w("| cell | load | " + " | ".join(SERVERS) + " | CbuffTcp vs best reference | `cbuff` / `cbuff-tp` vs the C floor |")
w("| --- | --- | " + " | ".join("---:" for _ in SERVERS) + " | ---: | ---: |")
for cell, load in CELLS:
    if cell.startswith("lat"):
        figure, unit, lower = p99, "p99 µs", True
    elif cell.startswith("bulk"):
        figure, unit, lower = mbps, "MB/s", False
    elif cell.startswith("handshakes"):
        figure, unit, lower = rate, "conn/s", False
    else:
        figure, unit, lower = rate, "msg/s", False
    cells = [fmt(median(s, cell, figure), 1 if lower else 0) for s in SERVERS]
    ref, ref_name = best(cell, figure, lower)
    mine = median("cbuff", cell, figure)
    ratio = f"{mine / ref:.2f}× ({ref_name})" if mine and ref else "n/a"
    floor = median(FLOOR, cell, figure)
    def to_floor(server):
        value = median(server, cell, figure)
        return "n/a" if not value or not floor else f"{(floor / value) if lower else (value / floor):.2f}×"
    w(f"| `{cell}` {unit} | {load} | " + " | ".join(cells) + f" | {ratio} | {to_floor('cbuff')} / {to_floor('cbuff-tp')} |")
iperf_range = f"{min(iperf_by_pass.values()):,.0f}-{max(iperf_by_pass.values()):,.0f}" if len(iperf_by_pass) > 1 else f"{iperf:,.0f}"
for cell in ("bulk", "bulk-tp", "bulk-c"):
    w(f"| `{cell}` vs loopback | iperf3 in each pass: median {iperf:,.0f} MB/s ({iperf_range}) | "
      + " | ".join(f"{median(s, cell, mbps) / iperf * 100:,.0f} %" if median(s, cell, mbps) else "n/a" for s in SERVERS) + " | | |")
w("")
w("Server CPU seconds per million messages (`mux`), and peak server RSS in MiB (read right after `conns`, on a fresh")
w("server):")
w("")
w("| figure | " + " | ".join(SERVERS) + " |")
w("| --- | " + " | ".join("---:" for _ in SERVERS) + " |")
w("| CPU s / million msgs (`mux`) | " + " | ".join(fmt(median(s, "mux", cpu_per_million), 2) for s in SERVERS) + " |")
w("| peak RSS MiB (`conns`) | " + " | ".join(fmt(median(s, "conns", rss_mib), 1) for s in SERVERS) + " |")
w("| RSS MiB at start, before any client | " + " | ".join(fmt(median(s, "conns", start_rss_mib), 1) for s in SERVERS) + " |")
w("| p99 µs (`mux`) | " + " | ".join(fmt(median(s, "mux", p99), 0) for s in SERVERS) + " |")
w("| server RSS bytes per idle connection (`idle`, 19,000) | " + " | ".join(fmt(median(s, "idle", idle_bytes), 0) for s in SERVERS) + " |")
w("| errors (all cells) | " + " | ".join(str(sum(errors(r) for (srv, _), rs in runs.items() if srv == s for r in rs)) for s in SERVERS) + " |")
w("")
fan, fan_q = median("cbuff", "fanout", rate), median("cbuff", "fanout-q", rate)
w(f"`fanout` (CbuffTcp only: `cbuff serve --mode broadcast`, 1,000 clients, one sender, 32 B, 64 in flight): {fmt(fan)} deliveries/s")
w(f"with the thread-pool generator, {fmt(fan_q)} with the quiet one (`fanout-q`).")
w("")
w("## Targets")
w("")


missed = []
compared = {}  # target name -> (cell, figure, the server compared with): for the per-pass figures of a cell not met


def target(name, mine, ref, ok, note="", passes=None):
    status = "n/a" if mine is None or ref is None else ("met" if ok(mine, ref) else "**not met**")
    if status != "met":
        missed.append(name)
    if passes:
        compared[name] = passes
    w(f"| {name} | {note} | {status} |")


w("Every target of the performance issue, on the default configuration (`cbuff`), in every generator regime (a target")
w("holds only if it holds in all; `bulk` runs its inline generator as the quiet regime and `bulk-tp` as the other; cells")
w("ending in `-c` are the C generator's; the TLS cells have no C generator):")
w("")
w("| target | figure | status |")
w("| --- | --- | --- |")


def ratio_note(mine, ref, name):
    return f"{mine / ref:.2f}× {name}" if mine and ref else ""


for cell in ("pipe", "pipe-q", "pipe-c", "mux", "mux-q", "mux-c", "conns", "conns-q", "conns-c", "c10k", "c10k-q", "c10k-c"):
    mine, (ref, name) = median("cbuff", cell, rate), best(cell, rate)
    target(f"`{cell}` msg/s ≥ 1.10× best reference", mine, ref, lambda m, r: m >= 1.10 * r, ratio_note(mine, ref, name))
for cell in ("lat", "lat-q", "lat-c"):
    mine, (ref, name) = median("cbuff", cell, p99), best(cell, p99, True)
    target(f"`{cell}` p99 ≤ 0.90× best reference", mine, ref, lambda m, r: m <= 0.9 * r, f"{mine / ref:.2f}× ({mine:.1f} µs vs {ref:.1f} µs, {name})" if mine and ref else "")
for cell in ("bulk", "bulk-tp", "bulk-c"):
    mine, floor = median("cbuff", cell, mbps), median(FLOOR, cell, mbps)
    target(f"`{cell}` MB/s ≥ 0.90× the C epoll floor", mine, floor, lambda m, r: m >= 0.9 * r, f"{mine / floor:.2f}× ({mine:,.0f} of {floor:,.0f} MB/s; {mine / iperf:.2f}× iperf3)" if mine and floor else "", (cell, mbps, FLOOR))
for cell in ("mux", "mux-q", "mux-c"):
    mine, floor = median("cbuff", cell, rate), median(FLOOR, cell, rate)
    target(f"`{cell}` msg/s ≥ 0.90× the C epoll floor", mine, floor, lambda m, r: m >= 0.9 * r, ratio_note(mine, floor, FLOOR), (cell, rate, FLOOR))
for cell in ("tls", "tls-q", "handshakes", "handshakes-q"):
    mine, ref = median("cbuff", cell, rate), median("kestrel", cell, rate)
    target(f"`{cell}` {'connections' if cell.startswith('handshakes') else 'msg'}/s ≥ 1.20× Kestrel", mine, ref, lambda m, r: m >= 1.2 * r, ratio_note(mine, ref, "kestrel"), (cell, rate, "kestrel"))
for cell in ("mux", "mux-q", "mux-c"):
    mine, (ref, name) = median("cbuff", cell, cpu_per_million), best(cell, cpu_per_million, True)
    target(f"server CPU per million msgs (`{cell}`) ≤ 0.80× best reference", mine, ref, lambda m, r: m <= 0.8 * r, ratio_note(mine, ref, name))
mine, ref = median("cbuff", "conns", rss_mib), median("sockets", "conns", rss_mib)
target("peak RSS at `conns` ≤ 0.90× plain-sockets reference", mine, ref, lambda m, r: m <= 0.9 * r, f"{mine / ref:.2f}× ({mine:.1f} vs {ref:.1f} MiB)" if mine and ref else "")
mine = median("cbuff", "idle", idle_bytes)
target("`idle` ≤ 2 KiB server RSS per connection at 19,000", mine, 2048, lambda m, r: m <= r, f"{mine:,.0f} bytes" if mine else "")
if mine:
    w(f"| … at 1,000,000 idle connections that is | {mine * 1e6 / 2**30:,.1f} GiB of server RSS (linear extrapolation) | |")
for cell, figure in (("fanout", fan), ("fanout-q", fan_q)):
    target(f"`{cell}` ≥ 10 million deliveries/s", figure, 10e6, lambda m, r: m >= r, f"{figure:,.0f}/s" if figure else "")
w("| allocations per echoed message = 0 B | 0 B in every hot-path micro benchmark ([benchmarks-micro.md](benchmarks-micro.md)); end to end, for the whole process (`AllocationTests`, Release; the quietest quarter of 320,000 messages, as the runtime's background allocates in bursts): 0.002-0.006 B per echoed message and per message broadcast to 4 clients, message by message or a received batch at once | met |")
w("")
w("Where a target is not met, the performance issue stays open for that cell.")
w("")
w("### What limits the cells not met" if missed else "### What the profiles and runs show (every target met in this run)")
w("")
def cores(server, cell, side):
    """Median cores a side used in a cell: the server over warm-up and window, the generator over the window."""
    if side == "server":
        return median(server, cell, lambda r: r["serverCpuSeconds"] / (r["seconds"] + r["warmup"]))
    return median(server, cell, lambda r: r.get("benchCpuSeconds", 0) / r["seconds"])


def per_pass(server, cell, figure=rate):
    return ", ".join(f"{figure(r):,.0f}" for r in sorted(runs.get((server, cell), []), key=lambda r: r["run"]))


for cell in ("conns", "c10k"):
    if f"`{cell}` msg/s ≥ 1.10× best reference" in missed:
        floor, mine = median(FLOOR, cell, rate), median("cbuff", cell, rate)
        w(f"- **`{cell}` with the thread-pool generator ({mine / best(cell, rate)[0]:.2f}× the best reference) is bound by the generator,")
        w(f"  not the server.** The C floor itself made {fmt(floor)} msg/s there (per pass {per_pass(FLOOR, cell)}), CbuffTcp {fmt(mine)}")
        w(f"  ({per_pass('cbuff', cell)}): {mine / floor:.2f}× a server that does nothing but echo. Every server's rate sits within the")
        w(f"  spread of the floor's; the generator used {fmt(cores('cbuff', cell, 'bench'), 2)} cores against CbuffTcp and the server")
        w(f"  {fmt(cores('cbuff', cell, 'server'), 2)}, of two. With the quiet generator, which costs less per message, the same cell")
        w(f"  gives {median('cbuff', cell + '-q', rate) / best(cell + '-q', rate)[0]:.2f}×: the server's lead shows once the generator leaves it room.")
for cell in ("handshakes", "handshakes-q"):
    if f"`{cell}` connections/s ≥ 1.20× Kestrel" in missed:
        mine, kestrel = median("cbuff", cell, rate), median("kestrel", cell, rate)
        per_handshake = lambda s: cores(s, cell, "server") / median(s, cell, rate) * 1e3
        w(f"- **`{cell}`** ({mine / kestrel:.2f}× Kestrel): both run the handshake in `SslStream` over OpenSSL, and spend about the")
        w(f"  same server CPU on it ({per_handshake('cbuff'):.2f} ms per connection for CbuffTcp, {per_handshake('kestrel'):.2f} ms for Kestrel); the")
        w(f"  generator's own client handshakes take {fmt(cores('cbuff', cell, 'bench'), 2)} of the two cores. CbuffTcp builds its certificate")
        w("  context once at start (as Kestrel does; before 2026-12-06 SslStream rebuilt the chain per handshake). 1.20× here")
        w("  needs a handshake cheaper than SslStream's full one (resumption for returning clients, say): not done.")
        if cell == "handshakes":
            w("  The profile ([profiles.md](profiles.md)) shows where a handshake's server CPU goes, for CbuffTcp and the")
            w("  sockets server alike: OpenSSL (`libcrypto`) 20-32 %, the runtime 16-22 %, the JIT 11 %, the kernel 16-20 %;")
            w("  the connection's own code is under 1 %. Much of the cell is the runtime warming up: each server is fresh and")
            w("  measured from its second second, and perf on CbuffTcp 5-13 s into a handshake load put 23 % of its CPU on the")
            w("  runtime's tiered-compilation thread (0.3 % at 25-33 s). Warmed up for 25 s, alternated twice (2026-12-07,")
            w("  `cbuff bench --mode handshake --connections 16 --tls --warmup 25 --seconds 8`), CbuffTcp made 1,006 and 769")
            w("  handshakes/s against Kestrel's 905 and 848 (1.11×, 0.91×), at 0.65-0.83 ms of server CPU each against")
            w("  0.64-0.69: no lead there either. The cell keeps its one-second warm-up, the same for every server.")
            w("  CbuffTcp's tier-up takes longer than Kestrel's (perf maps: CbuffTcp's process compiles until about 10 s into")
            w("  the load, Kestrel's until about 6 s), but compiling CbuffTcp and `cbuff` ahead of time")
            w("  (`dotnet publish -r linux-x64 -p:PublishReadyToRun=true`) did not move the cell: 633 and 651 handshakes/s")
            w("  against Kestrel's 730 and 660, alternated (2026-12-07). The JIT log of that build says why (2026-12-08,")
            w("  `DOTNET_JitDisasmSummary=1` over 3 s of the load): 225 methods instantiated over `ReadOnlySequence<byte>`")
            w("  (CbuffTcp's `TcpServer<T>` and `TcpConnection<T>`, 115 of them the connection's, their async state machines and")
            w("  the runtime's builders for those) were still compiled at tier 0. ReadyToRun does not precompile a generic instantiation over a type from outside the")
            w("  assembly's version bubble, and the connection's code is generic over the message type; Kestrel's comes")
            w("  precompiled with the shared framework. In profiles.md, the JIT (`libclrjit`) takes 18 % of CbuffTcp's")
            w("  handshake CPU 2-6 s into the load against Kestrel's 7 %. Nor do exceptions explain it: a reset connection costs")
            w("  CbuffTcp about 4 (`IOException`, 2,400/s), Kestrel about 12 (`ConnectionResetException`, 7,800/s).")
            w("  Against Kestrel itself, perf by library over 6 s of a handshake load with the quiet generator, 12 s into it")
            w("  (2026-12-08; 739 and 778 handshakes/s): OpenSSL's `libcrypto` 23.3 % and 24.2 %, `libssl` 3.6 % and 3.5 %,")
            w("  the kernel 36.9 % and 41.1 % (of which `sched_yield` from the thread pool's spinning workers about 12 % and")
            w("  11 %), libc 12.1 % and 12.2 %, the runtime 11.8 % and 9.1 %, JIT-compiled code 10.6 % and 8.7 %: the same")
            w("  profile, since a TLS connection of CbuffTcp ran on the thread pool and `SslStream` as Kestrel's does (until")
            w("  2026-12-08; on the I/O threads since, the cell measured 618-753 handshakes/s against 686-760 before and")
            w("  Kestrel's 666-692, alternated: no change beyond the noise).")
if "peak RSS at `conns` ≤ 0.90× plain-sockets reference" in missed:
    peak, sock = median("cbuff", "conns", rss_mib), median("sockets", "conns", rss_mib)
    start, sock_start = median("cbuff", "conns", start_rss_mib), median("sockets", "conns", start_rss_mib)
    w(f"- **peak RSS at `conns`** ({peak / sock:.2f}×: {peak:.1f} vs {sock:.1f} MiB): most of CbuffTcp's figure is there before any")
    w(f"  client: {start:.1f} MiB at start against {sock_start:.1f} for the sockets server (`cbuff serve` loads its command line, hosting")
    w(f"  and Redis code), while its 1,000 busy connections add {peak - start:.1f} MiB against {sock - sock_start:.1f}. CbuffTcp's")
    w("  connections are the same size as before the reconnecting client, the PROXY protocol and the memory budget")
    w("  (2,990-3,080 bytes per idle connection, `benchmarks/footprint.sh`). What moved this cell in between was the JIT:")
    w("  it keeps the 64 KiB pages of its largest compile, the receive loop's tier-1 compile, for the life of the process")
    w("  (a trace of malloc and free; [limits.md](limits.md) has the figures). With the new rare paths inlined into the")
    w("  loop that was 1-3 MiB more. Since 2026-12-07 they are kept out of it, and `benchmarks/footprint.sh` puts the cell")
    w("  back at the old build's figure (54.2-54.7 MiB against 54.7-55.1, alternated); a run before that change reads higher.")
if "`idle` ≤ 2 KiB server RSS per connection at 19,000" in missed:
    w(f"- **`idle`** ({fmt(median('cbuff', 'idle', idle_bytes))} bytes per connection in this run; DotNetty {fmt(median('dotnetty', 'idle', idle_bytes))}, Kestrel")
    w(f"  {fmt(median('kestrel', 'idle', idle_bytes))}): what an idle connection holds is listed under \"What `idle` is made of\" below:")
    w("  about 950 bytes of live objects since 2026-12-08 (1,010 the day before, 1,750 before that), the rest memory the GC committed during the")
    w("  connect storm and keeps (an idle server runs no collection that would give it back), the JIT's code and arenas for")
    w("  the paths the first connections run (about 6.5 MB, once: 340 bytes a connection at 19,000), and the runtime's native")
    w("  allocations. What was cut: the write side holds nothing while idle (write passes on demand; a write loop only")
    w("  for a connection whose send has had to wait), the lifecycle no longer waits on the receive loop in a state")
    w("  machine of its own, the flush signal and the writable readiness signal are made only when needed, rarely used")
    w("  fields moved to a side object, and an accepted socket's descriptor is taken")
    w("  over from its runtime `Socket` (which, with its handle, held 176 bytes). `benchmarks/footprint.sh` went from")
    w("  2,884-3,020 bytes to 2,039-2,074 with the first of these, the same hour. The last one took 160 live bytes off")
    w("  every connection (the heap at 10,000 connections: 10.2 MB against 11.8) and did not move the cell at 19,000")
    w("  (2,062-2,112 against 2,028-2,074, alternated): there the GC's committed memory (31.6 MB for a 20.4 MB heap after")
    w("  its last collection) decides, and neither a smaller gen0 budget (`GCgen0MaxBudget`, `GCgen0size`) nor")
    w("  `GCConserveMemory` moved it. The largest live shares left are the receive loop's waiting state machine (240 since")
    w("  2026-12-08, 320 before) and the connection (216).")
fanout_missed = [(cell, figure) for cell, figure in (("fanout", fan), ("fanout-q", fan_q)) if f"`{cell}` ≥ 10 million deliveries/s" in missed]
if fanout_missed:
    w(f"- **{' and '.join(f'`{cell}`' for cell, _ in fanout_missed)}** ({' and '.join(f'{figure / 1e6:.2f}' if figure else 'n/a' for _, figure in fanout_missed)} million")
    w("  deliveries/s; the target is 10 million): the loopback send path, once per client per write pass. Each received")
    w("  batch of 1 KiB or more is copied once and queued by reference in each of the 1,000 queues, whose write loops each")
    w("  send all their queue holds in one call, so what is left per delivery is each client's share of a `send`: the")
    w("  receiving socket's processing and the reader's wake-up run inside it on loopback (profiles.md).")
committed_runs = past_runs(rows)  # git show of every committed run: read once
explained = {f"`{c}` connections/s ≥ 1.20× Kestrel" for c in ("handshakes", "handshakes-q")}
for name in missed:
    if name in compared and name not in explained:
        cell, figure, other = compared[name]
        earlier = []
        for commit, _, past in committed_runs[-4:]:
            ours = [figure(r) for r in past if r.get("cell") == cell and r.get("server") == "cbuff"]
            theirs = [figure(r) for r in past if r.get("cell") == cell and r.get("server") == other]
            if ours and theirs:
                earlier.append(f"{statistics.median(ours) / statistics.median(theirs):.2f}× ({commit})")
        w(f"- **{name}** is not met in this run, with no limit found: per pass, CbuffTcp {per_pass('cbuff', cell, figure)},")
        w(f"  {other} {per_pass(other, cell, figure)}." + (f" The runs committed before: {', '.join(earlier)}." if earlier else ""))
if any("`tls" in name for name in missed):
    w("- **TLS sends** (2026-12-08): `strace -c` on each server over 3 s of the `tls` load counted 36,682 sends and")
    w("  28,111 receives for CbuffTcp (1.3 sends per receive) against 6,584 and 65,932 for Kestrel. SslStream encrypts each")
    w("  write into records and sends them at once, and a write pass handed it each of the send queue's arrays (4, 8, 16 KiB")
    w("  as a burst grows) as a write of its own. Since then a pass is joined into writes of up to 16,000 bytes first, one")
    w("  record each: 1.06 sends per successful receive against 1.52 for the build before, under strace; three alternations")
    w("  of `tls-q` gave 204-266k msg/s against 180-237k (Kestrel 153-199k). Kestrel's SslStream writes into a pipe whose")
    w("  sender gathers records into one `sendmsg`: fewer sends still, at the cost of a copy and a hop.")
w("")
w("CPU profiles of CbuffTcp and the plain-sockets reference under the same loads are in [profiles.md](profiles.md)")
w("(`benchmarks/profile/run.sh`: perf on the server process, JIT-compiled methods named). What they and the runs show:")
w("")
mux_ratio = median("cbuff", "mux", rate) / best("mux", rate)[0]
cpu_ratio = median("cbuff", "mux", cpu_per_million) / best("mux", cpu_per_million, True)[0]
w("- **Every server here spends 75–94 % of its CPU in the kernel** (loopback TCP and wake-ups). On two cores shared")
w("  with the generator, and a host whose speed drifts (iperf3 measured 3.5 GB/s on 2026-11-25 and 1.5-2.1 GB/s on")
w("  2026-11-30), ratios move ±20 % between runs; the table runs cell by cell to keep the servers of a cell close in time.")
w("- **Waking a sleeping core is expensive here.** The machine is a virtual machine whose idle cores halt (guest halt")
w("  polling is off): a wake-up of a thread on a halted core costs its waker tens of microseconds (perf: the time shows")
w("  in `_raw_spin_unlock_irqrestore` of the waker), more than a loopback round trip. The thread pool's workers spin")
w("  before they sleep, which keeps cores awake for the sockets server, Kestrel and `cbuff-tp`. CbuffTcp's I/O threads")
w("  spin too, for 50 µs after their last event, yielding the core between non-blocking `epoll_wait` checks")
w("  ([handlers.md](handlers.md#which-threads-iomode)): in back-to-back A/B runs against the same build without it,")
w("  `lat` went from 29,600 to 58,800 msg/s, `pipe` from 1.31M to 1.93M, and `mux` from 1.36-1.53M to 1.64-1.81M")
w("  msg/s at 0.49-0.52 s of server CPU per million instead of 0.58-0.67: spinning costs less CPU than being woken.")
history = [(commit, date, mux_pass_ratios(past)) for commit, date, past in committed_runs]
every_pass = [x for _, _, passes in history for x in passes] + mux_pass_ratios(rows)
mux_all, cpu_all = [m for m, _ in every_pass], [c for _, c in every_pass]
run_medians = [(statistics.median(m for m, _ in passes), statistics.median(c for _, c in passes)) for _, _, passes in history if passes]
w(f"- **`mux` ({mux_ratio:.2f}× here; per pass {', '.join(f'{m:.2f}×' for m, _ in mux_pass_ratios(rows))}) and CPU per message ({cpu_ratio:.2f}× here;")
w(f"  per pass {', '.join(f'{c:.2f}×' for _, c in mux_pass_ratios(rows))}) move around their targets from pass to pass.** Over this run and the")
w(f"  {len(history)} committed before it since the table went cell by cell (2026-11-30; {len(every_pass)} passes, the `mux` cells")
w(f"  of each pass against the best reference of that pass), `mux` measured {min(mux_all):.2f}-{max(mux_all):.2f}× (median")
w(f"  {statistics.median(mux_all):.2f}×, at least 1.10× in {sum(m >= 1.10 for m in mux_all)} of {len(mux_all)}) and CPU per message")
w(f"  {min(cpu_all):.2f}-{max(cpu_all):.2f}× (median {statistics.median(cpu_all):.2f}×, at most 0.80× in {sum(c <= 0.80 for c in cpu_all)} of {len(cpu_all)})"
  + (f"; per run before this one, the medians of `mux`/CPU were {', '.join(f'{m:.2f}×/{c:.2f}×' for m, c in run_medians)} ({', '.join(f'{h}' for h, _, _ in history)})." if history else "."))
w("  Both cells saturate the two cores with server and generator together, and the generator spends more CPU per message")
w("  (0.65-0.85 s per million) than any server, so what a cheaper server frees goes half to the generator. What CbuffTcp")
w("  still spends per message beyond the echo is the framework's model: a pack into a per-thread buffer and a copy into")
w("  the client's queue under its lock (about 6 % of `mux` samples in profiles.md: `Pack` 1.6 %, the queue's `Lock` 3.2 %,")
w("  the copy 0.8 %), and decoding each frame into a message (`ReadPayloadLength` 2.1 %, `TryDepack` 1.3 %).")
bulk_ratio = median("cbuff", "bulk", mbps) / iperf
if bulk_ratio:
    bulk_tp = median("cbuff", "bulk-tp", mbps)
    tp_note = f"; {bulk_tp / iperf:.2f}× with the thread-pool generator, `bulk-tp`" if bulk_tp else ""
    server_cores = median("cbuff", "bulk", lambda r: r["serverCpuSeconds"] / (r["seconds"] + r["warmup"]))
    generator_cores = median("cbuff", "bulk", lambda r: r["benchCpuSeconds"] / r["seconds"])
    busier = "the generator, not the server, is the busier side" if generator_cores > server_cores else "both sides are busy"
    w(f"- **`bulk`** ({bulk_ratio:.2f}× of iperf3 here, the ratio of the medians; per pass in the targets table{tp_note}): {busier}. CbuffTcp's server")
    w(f"  used {server_cores:.2f} of a core and the generator {generator_cores:.2f}, on a machine of two. Every byte crosses loopback")
    w("  twice and is copied five times (the generator's send, the server's receive, the protocol's pack of the reply, the")
    w("  server's send, the generator's receive) and read once more by the generator's check, where iperf3 sends one way,")
    w("  copies each byte twice and checks nothing.")
    if bulk_ratio >= 1:
        w("  iperf3 is not a ceiling for an echo, most likely because on loopback the receiving side's TCP processing runs on")
        w("  the sending thread: one iperf3 stream leans on one core, while an echo's two directions each have a sender.")
    w("  What the server copied beyond the one pack is gone since 2026-11-30: the")
    w("  built-in protocols ask the pack buffer for the whole frame at once (it doubled its way up from 256 bytes, copying")
    w("  at each step), every reply of 16 KiB or more stays in its own array in the send queue, a busy connection keeps its")
    w("  receive array between reads and starts each burst with one as large as the last, and the generator renumbers")
    w("  prepared frames instead of filling 64 KiB per message (user-space copies 22 % to 9 % of the server's samples).")
# Runs committed before 24d8f73 broadcast message by message (and before 24f1c6b without held wake-ups).
fanout_runs = [past for commit, _, past in committed_runs if commit != "22cff7f"]
fanout_before = [x for past in fanout_runs for x in fanout_passes(past)]
if fan and fanout_before:
    w(f"- **`fanout`** ({fan / 1e6:.2f} million here; per pass {', '.join(f'{x / 1e6:.2f}' for x in fanout_passes(rows))}): `cbuff serve --mode broadcast`")
    w("  relays each received batch with one `SendToAllClients(messages.AsSpan())`. Since 2026-12-07 a batch of 1 KiB or")
    w("  more is copied once, into an array that each of the 1,000 queues holds by reference until its write loop has sent")
    w("  it (`SharedSendBytes`), and the queues keep their arrays between broadcasts (`ConnectionArrayPool`). Before, each queue")
    w("  took a copy into an array rented for it: the runtime's pool keeps 32 per core, so most were fresh memory every")
    w("  time (zeroing and page faults were a sixth of the server's samples), and the kernel read every copy back from")
    w("  cold memory. Alternated against the commit before both (635ec76): 11.1-12.5 million deliveries/s against 4.3-4.5.")
    w(f"  The runs committed before measured {min(fanout_before) / 1e6:.1f}-{max(fanout_before) / 1e6:.1f} million ({len(fanout_before)} passes, median")
    w(f"  {statistics.median(fanout_before) / 1e6:.2f}; message by message until 2026-11-30, then a copy per queue).")
w("")
w("The generator (`cbuff bench`) runs on the thread pool in every cell without `-q` but `bulk`: its spinning workers keep both cores")
w("awake for every server alike. With `--io inline` it runs its socket continuations on the runtime's socket engine thread")
w("(`DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1` for the bench process) and costs less per message (0.42 s per million")
w("in `mux`; about half per byte in `bulk`). In `bulk` the generator is the busier process, so since 2026-11-30 that cell")
w("runs it inline for every server, to measure the servers rather than the generator (`bulk-tp` keeps the thread-pool")
w("generator of the earlier runs, for comparison: 0.84× of iperf3 on e536d2a, where the inline generator gave 0.90×). In")
w("the small-message cells the inline generator would favour CbuffTcp where many connections keep the cores busy (`mux`")
w("1.4-1.9× the sockets server, `conns` 1.8×) and turn into a loss where one connection ping-pongs (`pipe` about 0.4×,")
w("`lat` 0.7-0.9× the references' rate): the generator's thread then sleeps between round trips, the scheduler puts it on")
w("the I/O thread's core, and the two take turns on one core. Those cells keep the thread-pool generator, as in every")
w("earlier run. `--rate` (open loop) paces with 1 ms timers, so its latencies include up to about a millisecond of the")
w("generator's own lateness; the table uses closed loop only.")
w("")
def generator_cpu_per_million(cell):
    return median("cbuff", cell, lambda r: r.get("benchCpuSeconds", 0) / (r["messagesPerSecond"] * r["seconds"]) * 1e6 if r["messagesPerSecond"] else float("nan"))


w("The C generator (`-c` cells, since 2026-12-08) is another client altogether: one thread and a level-triggered epoll,")
w("no runtime, no thread pool, no spinning (it sleeps in `epoll_wait`), each connection's frames written from one")
w("prepared run of them and each reply checked by its length header only. In `mux` against CbuffTcp it spent")
w(f"{fmt(generator_cpu_per_million('mux-c'), 2)} s of CPU per million messages, against {fmt(generator_cpu_per_million('mux'), 2)} for `cbuff bench` on the thread pool and")
w(f"{fmt(generator_cpu_per_million('mux-q'), 2)} inline: it leaves the server the most room of the three. Its cells share the `-q` cells' shape (no core kept")
w("awake by the generator) without sharing its client stack, so a lead that holds in both does not come from `cbuff bench`.")
w("")
w("### What `idle` is made of")
w("")
def idle_passes(run_rows):
    return [idle_bytes(r) for r in sorted(run_rows, key=lambda r: r.get("run", 0)) if r.get("cell") == "idle" and r.get("server") == "cbuff"]


idle_before = [(commit, idle_passes(past)) for commit, _, past in committed_runs[-3:]]
w(f"This run: {fmt(median('cbuff', 'idle', idle_bytes))} bytes per idle connection (per pass {', '.join(fmt(b) for b in idle_passes(rows))}). The runs")
w("committed before: " + ", ".join(f"{fmt(statistics.median(passes))} ({commit}: {', '.join(fmt(b) for b in passes)})" for commit, passes in idle_before if passes) + ".")
w("Around 2 KiB a pass lands on either side of the line: the GC's committed memory moves in steps (see below).")
w("Since 2026-12-07 `cbuff serve` logs a connect without allocating (its line had been about 420 bytes of strings, the")
w("address's text among them, which the address then kept); five same-hour alternations of the cell could not tell the")
w("two builds apart (1,904-2,274 bytes against 1,988-2,113).")
w("")
w("Since 2026-12-08 the receive loop's waiting state is 104 bytes smaller (its decode step returns a count, the rare")
w("outcomes wait in the connection's side object, a counter is an int): the server's managed heap per idle connection,")
w("measured by `IdleFootprintTests` with the clients in another process, went from about 1,055 to 950-956 bytes, and four")
w("same-hour alternations of this cell's measure gave 1,756-1,785 bytes of RSS per connection against 1,859-2,365 for the")
w("build before. The same day, an ended connection stopped outliving its end: the client list's cached snapshot kept")
w("every client that left after it was taken (the warm-up's 1,000 connections, in that test) until the next broadcast")
w("or heartbeat rebuilt it, and each I/O thread kept the last socket it handled.")
w("")
w("A heap dump of `cbuff serve` holding 10,000 idle connections on the I/O threads (2026-12-07, `dotnet-gcdump`, which")
w("collects first, so live objects only) came to about 1,010 bytes per connection (950 since 2026-12-08): the receive loop's waiting state")
w("machine 320 (now 240), the connection 216, the send queue 112 and its `Lock` 40, the I/O socket 88, its readable signal 80,")
w("the remote address 72, the registry's node 48 and the socket's descriptor 32. Nothing else waits while a connection is idle: its write")
w("side runs in passes that end when the queue is empty (a write loop, 144 bytes and its 56-byte signal, only once a")
w("send has had to wait), its lifecycle's steps start one another instead of one waiting on the next (the `RunAsync`")
w("state machine, 176, is gone), the flush signal (88) and the writable signal (80) are made when something first")
w("needs them, rare fields sit in a side object (the send queue locked on itself for a while, 40 bytes less, but a")
w("contended monitor's sync block is runtime memory a collection may make again: back to a `Lock`), and an accepted")
w("socket's descriptor is taken over from the runtime's `Socket` (112) and `SafeSocketHandle` (64), which the I/O")
w("threads never call: `SocketDescriptor` ends it as they would, FIN on dispose and RST on reset. On a listener")
w("bound to a wildcard address (this cell binds 127.0.0.1), the runtime makes each accepted socket a local endpoint")
w("of its own (72 bytes); the I/O threads keep one instance per distinct endpoint (`SharedLocalEndPoints`). Until")
w("2026-12-07 the runtime also built a `SocketAsyncContext` (152) and three lock objects (73) for every socket, because")
w("CbuffTcp set it non-blocking; its reads and writes now pass `MSG_DONTWAIT` per call instead and the socket stays in")
w("blocking mode. RSS carries the rest: memory the GC committed while the connect storm ran (the heap's free space,")
w("fragmentation, and up to one gen0 budget of garbage), which an idle server never collects to give back, the JIT's")
w("code for the paths the first connections run (about 6.5 MB once, measured with tiered compilation off against on),")
w("and the runtime's native allocations. Earlier steps: one receive loop over a pooled buffer held only while bytes")
w("wait (no `Pipe`: 4.1-4.7 KB to 3.4 KB), then the I/O threads (no receive event args: 2.9 KB), then nothing waiting")
w("but the receive loop (2026-12-07: 2.0-2.2 KB).")
w("")
w("Raw figures of every pass: [benchmarks-results.jsonl](benchmarks-results.jsonl).")
# The scale-out section comes from benchmarks/scaleout.sh (its own run, its own file): kept here as it last measured.
scaleout = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "benchmarks-scaleout.md")
if os.path.exists(scaleout):
    w("")
    w(open(scaleout).read().rstrip("\n"))
print("\n".join(out))
