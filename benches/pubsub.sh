#!/usr/bin/env bash
# Pub/sub fan-out: examples/redis (2 event loops) against Debian's
# redis-server, one publisher and 1,000 subscribers of one channel
# (bench/src/bin/pubsub-fanout.rs). Servers pinned to $SERVER_CPU, the
# client to $CLIENT_CPU (niceness -20 both), servers alternated, every row
# repeated. Measures deliveries (messages × subscribers) per second and the
# server's CPU time per delivery (its process CPU clock; the kernel share
# from utime/stime in /proc/PID/stat). Prints a markdown table of medians
# with paired ratios (run i of one server against run i of the other).
#
#   benches/pubsub.sh                                   # 5 repetitions (~5 min)
#   PUBSUB_BENCH_REPS=1 PUBSUB_BENCH_MESSAGES=1000 benches/pubsub.sh   # a quick look
#
# Environment (defaults in brackets):
#   PUBSUB_BENCH_REPS         repetitions, each running every server once [5]
#   PUBSUB_BENCH_SUBSCRIBERS  subscriber connections [1000]
#   PUBSUB_BENCH_SIZES        payload sizes in bytes, one row each ["64 1024"]
#   PUBSUB_BENCH_MESSAGES     messages published in each measured window [5000]
#   PUBSUB_BENCH_PIPELINE     PUBLISH commands in flight [16]
#   PUBSUB_BENCH_LOOPS        examples/redis's event loops [2]
#   PUBSUB_BENCH_SERVERS      servers to alternate, in order [nr redis]
#   PUBSUB_BENCH_OUT          output directory [target/pubsub-bench/<timestamp>]
#   PUBSUB_BENCH_SERVER_CPU / PUBSUB_BENCH_CLIENT_CPU   taskset cpu lists [0 / 1]
#   PUBSUB_BENCH_NICE         niceness of the servers and the client [-20]
#
# Needs: cargo, taskset, python3; installs redis-server and redis-tools with
# apt-get if they are missing. Not run in CI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

REPS=${PUBSUB_BENCH_REPS:-5}
SUBSCRIBERS=${PUBSUB_BENCH_SUBSCRIBERS:-1000}
SIZES=${PUBSUB_BENCH_SIZES:-"64 1024"}
MESSAGES=${PUBSUB_BENCH_MESSAGES:-5000}
PIPELINE=${PUBSUB_BENCH_PIPELINE:-16}
NR_LOOPS=${PUBSUB_BENCH_LOOPS:-2}
SERVERS=${PUBSUB_BENCH_SERVERS:-"nr redis"}
SERVER_CPU=${PUBSUB_BENCH_SERVER_CPU:-0}
CLIENT_CPU=${PUBSUB_BENCH_CLIENT_CPU:-1}
NICE=${PUBSUB_BENCH_NICE:--20}
OUT=${PUBSUB_BENCH_OUT:-"$ROOT/target/pubsub-bench/$(date +%Y%m%d-%H%M%S)"}
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

log() { printf '[pubsub-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# shellcheck source=benches/redis-servers.sh
source "$ROOT/benches/redis-servers.sh"
prepare_servers redis-cli
log "building pubsub-fanout (release)"
cargo build --release -p netreactor-bench --bin pubsub-fanout -q
FANOUT="$TARGET_DIR/release/pubsub-fanout"
# 1,000 subscribers need more than the usual 1,024 descriptors (redis-server
# sizes its maxclients from this limit at start).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

for rep in $(seq 1 "$REPS"); do
    for server in $SERVERS; do
        start_server "$server"
        for size in $SIZES; do
            line=$(nice -n "$NICE" taskset -c "$CLIENT_CPU" "$FANOUT" --addr "127.0.0.1:$PORT" \
                --subscribers "$SUBSCRIBERS" --size "$size" --messages "$MESSAGES" \
                --warmup $((MESSAGES / 10)) --pipeline "$PIPELINE" --server-pid "$SPID" \
                --label "$server" --json) || { log "pubsub-fanout failed against $server"; exit 1; }
            echo "{\"rep\":$rep,${line:1}" >>"$RESULTS"
            log "$server rep $rep size $size: $line"
        done
        stop_server
    done
done

python3 - "$RESULTS" "$SERVERS" <<'PY'
import json, statistics as st, sys
rows, servers = sys.argv[1], sys.argv[2].split()
base, peer = servers[0], servers[-1]
runs = {}
for line in open(rows):
    r = json.loads(line)
    runs.setdefault(r["size"], {}).setdefault(r["label"], []).append(r)
def med(rs, k):
    return st.median(r[k] for r in rs)
def paired(a, b, k):
    by_rep = {r["rep"]: r[k] for r in b}
    ratios = sorted(r[k] / by_rep[r["rep"]] for r in a if by_rep.get(r["rep"]))
    return f"{st.median(ratios):.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})" if ratios else "–"
print(f"| payload | deliveries/s {base} | {peer} | ratio | paired (min–max) "
      f"| server CPU ns/delivery {base} | {peer} | ratio | paired (min–max) | kernel share {base} / {peer} |")
print("|---|---|---|---|---|---|---|---|---|---|")
for size, by in sorted(runs.items()):
    a, b = by.get(base, []), by.get(peer, [])
    if not a or not b:
        continue
    ra, rb = med(a, "deliveries_per_sec"), med(b, "deliveries_per_sec")
    ca, cb = med(a, "server_cpu_ns_per_delivery"), med(b, "server_cpu_ns_per_delivery")
    print(f"| {size} B | {ra:,.0f} | {rb:,.0f} | {ra / rb:.2f} | {paired(a, b, 'deliveries_per_sec')} "
          f"| {ca:.0f} | {cb:.0f} | {ca / cb:.2f} | {paired(a, b, 'server_cpu_ns_per_delivery')} "
          f"| {med(a, 'kernel_share'):.0%} / {med(b, 'kernel_share'):.0%} |")
PY
log "results in $OUT"
