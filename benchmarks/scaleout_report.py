"""Writes the "Scale-out" section of docs/benchmarks.md from benchmarks/scaleout.sh's results: into
docs/benchmarks-scaleout.md, which report.py embeds whenever it rewrites the page, and into the page itself now."""
import json, os, statistics, subprocess, sys

path, passes, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = [json.loads(line) for line in open(path) if line.strip()]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
page = os.path.join(root, "docs", "benchmarks.md")
BEGIN, END = "<!-- scaleout begins -->", "<!-- scaleout ends -->"


def med(name, key):
    values = [r[key] for r in rows if r["name"] == name]
    return statistics.median(values) if values else float("nan")


def per_pass(name, key, scale=1.0, digits=2):
    return ", ".join(f"{r[key] / scale:.{digits}f}" for r in sorted(rows, key=lambda r: r["run"]) if r["name"] == name)


commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
local, cluster = med("local", "deliveries"), med("cluster", "deliveries")
per_node = cluster / 3
messages = cluster / 3000  # each message reaches 3,000 clients
runtime = seconds + 1       # the bench's warm-up second is in Redis's count too
publishes = med("cluster", "publishes") / runtime
lines = [
    BEGIN,
    "## Scale-out",
    "",
    f"Produced by `benchmarks/scaleout.sh {passes} {int(seconds)}` on {commit}: three `cbuff serve --redis` nodes (`--mode broadcast",
    "--protocol length`) on one `redis-server`, one `cbuff bench --mode broadcast --ports P1,P2,P3 --connections 3000",
    "--senders 1 --size 32 --depth 64` (1,000 clients per node, the sender on the first node); beside it, the same 3,000",
    "clients on one node alone (`local`, no Redis). Every process on this 2-core machine: the three nodes, Redis and the",
    "generator share two cores. Medians of the passes.",
    "",
    "| | `local` (1 node) | `cluster` (3 nodes) |",
    "| --- | ---: | ---: |",
    f"| deliveries/s, all clients | {local:,.0f} | {cluster:,.0f} |",
    f"| deliveries/s per node | {local:,.0f} (its 3,000 clients) | {per_node:,.0f} (1,000 clients each; target ≥ 1,000,000: {'met' if per_node >= 1e6 else 'not met'}) |",
    f"| latency p50 / p99 at the clients (µs) | {med('local', 'p50'):,.0f} / {med('local', 'p99'):,.0f} | {med('cluster', 'p50'):,.0f} / {med('cluster', 'p99'):,.0f} |",
    f"| nodes' CPU (s per s) | {med('local', 'nodeCpuSeconds') / runtime:.2f} | {med('cluster', 'nodeCpuSeconds') / runtime:.2f} |",
    f"| Redis CPU (s per s) | | {med('cluster', 'redisCpuSeconds') / runtime:.2f} |",
    f"| Redis PUBLISH calls/s (`INFO commandstats`) | | {publishes:,.0f}, for {messages:,.0f} messages/s broadcast: {messages / publishes if publishes else float('nan'):.1f} messages per publish |",
    "",
    f"Raw figures: [benchmarks-scaleout.jsonl](benchmarks-scaleout.jsonl). Per pass, deliveries/s in millions: local {per_pass('local', 'deliveries', 1e6)}; cluster {per_pass('cluster', 'deliveries', 1e6)}.",
    f"The three nodes together deliver {cluster / local:.2f}× what one node alone delivers to the same 3,000 clients on the",
    "same two cores: each node gets about a third of the machine, so the per-node figure is bounded by that share; what",
    "the cluster loses beside it goes to three runtimes and thread pools instead of one, and the hop through Redis (which",
    "itself stays near idle). CPU figures are ticks over the whole bench run (connects and warm-up included) divided by",
    "its measured seconds plus one.",
    "Pack once: a broadcast batch is one PUBLISH whatever the number of clients and nodes (the 2,000 remote clients cost",
    "Redis one message to each of two subscribers); RedisClusterTests asserts it exactly (150 broadcasts, 150 PUBLISH calls).",
    END,
]
section = "\n".join(lines) + "\n"
open(os.path.join(root, "docs", "benchmarks-scaleout.md"), "w").write(section)  # report.py embeds it on every rewrite
text = open(page).read() if os.path.exists(page) else ""
if BEGIN in text:
    text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(page, "w").write(text)
print(section)
