"""Turns benchmarks/profile/run.sh's perf output into docs/profiles.md."""
import json
import platform
import re
import sys

out, seconds = sys.argv[1], sys.argv[2]
CELLS = ["lat-q", "pipe-q", "mux-q", "mux-c", "conns", "conns-q", "bulk", "handshakes", "fanout"]
SERVERS = ["cbuff", "sockets", "kestrel"]  # Kestrel in `handshakes` only
TOP = 12


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def rows(text):
    for line in text.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.*)", line)
        if m and not line.lstrip().startswith("#"):
            yield float(m.group(1)), m.group(2).strip()


def shares(cell, server):
    """Percent of samples by where the code lives: kernel, JIT-compiled .NET code, the runtime, everything else."""
    kernel = jit = runtime = other = 0.0
    for pct, dso in rows(read(f"{out}/{cell}-{server}.dso")):
        if "kernel" in dso:
            kernel += pct
        elif dso.startswith("[JIT]") or dso.endswith(".dll") or "doublemapper" in dso:
            jit += pct
        elif "coreclr" in dso or "clrjit" in dso or "System.Native" in dso:
            runtime += pct
        else:
            other += pct
    return kernel, jit, runtime, other


def short(symbol):
    """`instance void [asm] Ns.Type`1+<Loop>d__36[T]::MoveNext()[OptimizedTier1]` -> `Type`1+<Loop>::MoveNext`."""
    symbol = re.sub(r"^\[\.\]\s*", "", symbol)
    m = re.search(r"([\w`+<>|.]+?)(?:\[[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\])?::([\w.<>|`]+)\(", symbol)
    if not m:
        return symbol[:80]
    owner = m.group(1).split(".")[-1] if "<" not in m.group(1) else m.group(1).rsplit(".", 1)[-1]
    owner = re.sub(r"d__\d+$", "", owner)
    return f"{owner}::{m.group(2)}"


def managed(cell, server):
    found = []
    for pct, sym in rows(read(f"{out}/{cell}-{server}.sym")):
        if "[k]" in sym or "::" not in sym:
            continue
        found.append((pct, short(sym)))
    return found[:TOP]


def stat(cell, server):
    counts = {}
    for line in read(f"{out}/{cell}-{server}.stat").splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[0].replace(".", "").isdigit():
            counts[parts[2]] = float(parts[0])
    return counts


def bench(cell, server):
    try:
        with open(f"{out}/{cell}-{server}.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


w = print
w("# Profiles")
w("")
w(f"Produced by `benchmarks/profile/run.sh {seconds}`: `cbuff serve` with its defaults (the I/O threads on Linux) and the")
w("plain-sockets reference, each under the same `cbuff bench` load as the cell of [benchmarks.md](benchmarks.md) (cells")
w("ending in `-q` with the quiet generator: inline socket completions, no thread-pool spinning; `mux-c` with the C load")
w("generator, `benchmarks/LoadGen/loadgen.c`), sampled with")
w("`perf record -e cpu-clock -g` (the server process only; JIT-compiled methods named through `DOTNET_PerfMapEnabled=1`,")
w("with W^X off so perf can map them) and counted with `perf stat`. `handshakes` is over TLS (every server on SslStream),")
w("with Kestrel behind its TLS middleware as a third server;")
w("`fanout` is CbuffTcp's alone (deliveries/s). Machine: " + platform.platform() + ", 2 cores shared with the load")
w("generator. Percentages are of the server's samples; msg/s is what the generator saw while perf ran (perf costs a little).")
w("")
w("## Where the server's CPU goes")
w("")
w("| cell | server | msg/s | CPU ms per 1,000 msgs | context switches per 1,000 msgs | kernel | .NET code | runtime | other |")
w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for cell in CELLS:
    for server in SERVERS:
        b, s = bench(cell, server), stat(cell, server)
        if not b:
            continue
        rate = b.get("messagesPerSecond") or 0
        window = int(seconds) / 2
        msgs = rate * window
        cpu = f"{s['task-clock'] / msgs * 1000:.3f}" if msgs and "task-clock" in s else "n/a"
        cs = f"{s['context-switches'] / msgs * 1000:.1f}" if msgs and "context-switches" in s else "n/a"
        k, j, r, o = shares(cell, server)
        w(f"| `{cell}` | {server} | {rate:,.0f} | {cpu} | {cs} | {k:.0f} % | {j:.0f} % | {r:.0f} % | {o:.0f} % |")
w("")
w("## By library, where the time is not the server's own code")
w("")
w("`handshakes` spends most of its time in OpenSSL (`libcrypto`), the runtime and the JIT; `fanout` in the kernel's send")
w("path. The libraries (and the kernel) with the most samples:")
w("")
for cell in ["handshakes", "fanout"]:
    for server in SERVERS:
        top = [f"{dso.split()[0]} {pct:.0f} %" for pct, dso in rows(read(f"{out}/{cell}-{server}.dso"))][:6]
        if top:
            w(f"- `{cell}`, {server}: " + ", ".join(top))
w("")
w("## Hottest .NET methods")
w("")
for cell in CELLS:
    w(f"### `{cell}`")
    w("")
    w("| cbuff | % | sockets | % |")
    w("| --- | ---: | --- | ---: |")
    a, b = managed(cell, "cbuff"), managed(cell, "sockets")
    for i in range(max(len(a), len(b))):
        left = f"`{a[i][1]}` | {a[i][0]:.2f}" if i < len(a) else " | "
        right = f"`{b[i][1]}` | {b[i][0]:.2f}" if i < len(b) else " | "
        w(f"| {left} | {right} |")
    w("")
