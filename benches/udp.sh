#!/usr/bin/env bash
# UDP echo: netreactor (nr-echo on udp://, "nr-udp") against a raw-epoll UDP echo (peer-udp-epoll,
# the floor) and a tokio UdpSocket echo (peer-udp-tokio), alternated in one
# sitting, server pinned to one core and the load generator (udpgen) to the
# other. Reports datagrams/s and the server's CPU per datagram (from
# /proc/PID/stat over the measured window): medians, min-max, and paired
# ratios (nr_i / peer_i of the runs taken side by side).
#
#   benches/udp.sh
#   UDP_REPS=7 UDP_SIZES="64 1024" UDP_CONNS=16 UDP_PIPELINE=4 benches/udp.sh
#
# Environment (defaults in brackets): UDP_REPS [5], UDP_SIZES ["64 1024"],
# UDP_CONNS client sockets [16], UDP_PIPELINE datagrams in flight per socket
# [4], UDP_DURATION seconds measured [5], UDP_WARMUP [1], UDP_SERVER_CPU [0],
# UDP_CLIENT_CPU [1], UDP_OUT [target/udp/<timestamp>].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${UDP_REPS:-5}
SIZES=${UDP_SIZES:-"64 1024"}
CONNS=${UDP_CONNS:-16}
PIPELINE=${UDP_PIPELINE:-4}
DURATION=${UDP_DURATION:-5}
WARMUP=${UDP_WARMUP:-1}
SCPU=${UDP_SERVER_CPU:-0}
CCPU=${UDP_CLIENT_CPU:-1}
OUT=${UDP_OUT:-$ROOT/target/udp/$(date +%Y%m%d-%H%M%S)}
SERVERS="nr-udp udp-epoll udp-tokio"
mkdir -p "$OUT"

cargo build --release -p netreactor-bench --bins >&2
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

LOOPS=1
# shellcheck source=benches/servers.sh
source "$ROOT/benches/servers.sh"

RESULTS="$OUT/results.tsv"
echo -e "size\trep\tserver\trate\tcpu_per_datagram_us\tuser_us\tsys_us\tlost" > "$RESULTS"
for size in $SIZES; do
    for rep in $(seq "$REPS"); do
        for server in $SERVERS; do
            log="$OUT/$server-$size-$rep.log"
            # shellcheck disable=SC2046
            taskset -c "$SCPU" $(server_cmd "$server") > "$log" 2>&1 &
            SPID=$!
            wait_ready "$log" 10 || { echo "server $server did not start" >&2; exit 1; }
            line=$(taskset -c "$CCPU" "$BIN/udpgen" --addr "$SADDR" --conns "$CONNS" --pipeline "$PIPELINE" \
                --size "$size" --duration "$DURATION" --warmup "$WARMUP" --pid "$SPID")
            kill "$SPID"; wait "$SPID" 2>/dev/null || true
            get() { sed -E "s/.*$1=([^ ]+).*/\1/" <<<"$line"; }
            echo -e "$size\t$rep\t$server\t$(get rate)\t$(get cpu_per_datagram_us)\t$(get server_user_us)\t$(get server_sys_us)\t$(get lost)" >> "$RESULTS"
            echo "size $size rep $rep $server: $line" >&2
        done
    done
done

python3 - "$RESULTS" > "$OUT/table.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("| size | server | datagrams/s median (min-max) | server CPU µs/datagram median (min-max) | user-space share | nr/peer CPU, paired median (min-max) |")
print("|---:|---|---:|---:|---:|---:|")
for size in dict.fromkeys(r["size"] for r in rows):
    by = {}
    for r in rows:
        if r["size"] == size:
            by.setdefault(r["server"], {})[r["rep"]] = r
    for server, runs in by.items():
        rate = [float(r["rate"]) for r in runs.values()]
        cpu = [float(r["cpu_per_datagram_us"]) for r in runs.values()]
        share = statistics.median(float(r["user_us"]) / max(float(r["user_us"]) + float(r["sys_us"]), 1) for r in runs.values())
        if server == "nr-udp":
            paired = "–"
        else:
            ratios = [float(by["nr-udp"][k]["cpu_per_datagram_us"]) / float(v["cpu_per_datagram_us"]) for k, v in runs.items() if k in by["nr-udp"] and float(v["cpu_per_datagram_us"]) > 0]
            paired = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
        print(f"| {size} | {server} | {statistics.median(rate):,.0f} ({min(rate):,.0f}–{max(rate):,.0f}) | {statistics.median(cpu):.2f} ({min(cpu):.2f}–{max(cpu):.2f}) | {share:.0%} | {paired} |")
PY
cat "$OUT/table.md"
echo "results: $RESULTS" >&2
