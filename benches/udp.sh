#!/usr/bin/env bash
# UDP echo: netreactor (nr-echo on udp://, "nr-udp") against two raw-epoll UDP
# echoes, written plainly: peer-udp-epoll (one recvfrom/sendto per datagram)
# and peer-udp-mmsg (recvmmsg/sendmmsg, 32 per call); optionally tokio's
# UdpSocket (peer-udp-tokio). One row per datagram size and window: servers
# alternated in one sitting, each pinned to its own core and the load
# generator (udpgen: 16 sockets, closed loop, every reply checked, losses
# counted) to another. Reports datagrams/s, the server's CPU per datagram
# (from /proc/PID/stat over the measured window), datagrams lost, medians and
# min-max, and the paired ratio of each server against the cheaper raw peer
# of the same repetition ("anchor").
#
#   benches/udp.sh
#   UDP_REPS=7 UDP_SIZES="64 1024" UDP_PIPELINES="4 32" benches/udp.sh
#   UDP_SERVERS="nr-udp nr-udp-kbuf nr-udp-base udp-epoll udp-mmsg udp-tokio" benches/udp.sh
#
# nr-udp-kbuf is nr-udp with the kernel's default receive buffer (the raw
# peers' own); nr-udp-base is an nr-echo built from another commit, copied
# into target/release as nr-echo-base (before/after in one sitting).
#
# Environment (defaults in brackets): UDP_REPS [5], UDP_SIZES ["64 1024"],
# UDP_PIPELINES datagrams in flight per socket ["4 32"], UDP_CONNS client
# sockets [16], UDP_SERVERS ["nr-udp udp-epoll udp-mmsg"], UDP_DURATION
# seconds measured [4], UDP_WARMUP [1], UDP_SERVER_CPU [0], UDP_CLIENT_CPU
# [1], UDP_OUT [target/udp/<timestamp>].
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${UDP_REPS:-5}
SIZES=${UDP_SIZES:-"64 1024"}
CONNS=${UDP_CONNS:-16}
PIPELINES=${UDP_PIPELINES:-"4 32"}
DURATION=${UDP_DURATION:-4}
WARMUP=${UDP_WARMUP:-1}
SCPU=${UDP_SERVER_CPU:-0}
CCPU=${UDP_CLIENT_CPU:-1}
OUT=${UDP_OUT:-$ROOT/target/udp/$(date +%Y%m%d-%H%M%S)}
SERVERS=${UDP_SERVERS:-"nr-udp udp-epoll udp-mmsg"}
mkdir -p "$OUT"

cargo build --release -p netreactor-bench --bins >&2
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"

LOOPS=1
# shellcheck source=benches/servers.sh
source "$ROOT/benches/servers.sh"

RESULTS="$OUT/results.tsv"
echo -e "size\tpipeline\trep\tserver\trate\tcpu_per_datagram_us\tuser_us\tsys_us\tlost\tbad" > "$RESULTS"
for size in $SIZES; do
  for pipeline in $PIPELINES; do
    for rep in $(seq "$REPS"); do
        for server in $SERVERS; do
            log="$OUT/$server-$size-$pipeline-$rep.log"
            # shellcheck disable=SC2046
            taskset -c "$SCPU" $(server_cmd "$server") > "$log" 2>&1 &
            SPID=$!
            wait_ready "$log" 10 || { echo "server $server did not start" >&2; exit 1; }
            line=$(taskset -c "$CCPU" "$BIN/udpgen" --addr "$SADDR" --conns "$CONNS" --pipeline "$pipeline" \
                --size "$size" --duration "$DURATION" --warmup "$WARMUP" --pid "$SPID")
            kill "$SPID"; wait "$SPID" 2>/dev/null || true
            get() { sed -E "s/.*$1=([^ ]+).*/\1/" <<<"$line"; }
            echo -e "$size\t$pipeline\t$rep\t$server\t$(get rate)\t$(get cpu_per_datagram_us)\t$(get server_user_us)\t$(get server_sys_us)\t$(get lost)\t$(get bad)" >> "$RESULTS"
            echo "size $size pipeline $pipeline rep $rep $server: $line" >&2
        done
    done
  done
done

python3 - "$RESULTS" > "$OUT/table.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
RAW = ("udp-epoll", "udp-mmsg")
def spread(v, fmt):
    return f"{fmt(statistics.median(v))} ({fmt(min(v))}–{fmt(max(v))})"
print("| size | in flight | server | datagrams/s median (min–max) | server CPU µs/datagram median (min–max) | user-space share | lost per run median (min–max) | CPU / anchor, paired median (min–max) |")
print("|---:|---:|---|---:|---:|---:|---:|---:|")
for key in dict.fromkeys((r["size"], r["pipeline"]) for r in rows):
    by = {}
    for r in rows:
        if (r["size"], r["pipeline"]) == key:
            by.setdefault(r["server"], {})[r["rep"]] = r
    # The anchor of a repetition: the cheaper raw peer in it.
    anchor = {}
    for rep in dict.fromkeys(k for runs in by.values() for k in runs):
        raw = [float(by[s][rep]["cpu_per_datagram_us"]) for s in RAW if s in by and rep in by[s]]
        raw = [c for c in raw if c > 0]
        if raw:
            anchor[rep] = min(raw)
    for server, runs in by.items():
        rate = [float(r["rate"]) for r in runs.values()]
        cpu = [float(r["cpu_per_datagram_us"]) for r in runs.values()]
        lost = [float(r["lost"]) for r in runs.values()]
        share = statistics.median(float(r["user_us"]) / max(float(r["user_us"]) + float(r["sys_us"]), 1) for r in runs.values())
        ratios = [float(r["cpu_per_datagram_us"]) / anchor[k] for k, r in runs.items() if k in anchor]
        paired = spread(ratios, lambda x: f"{x:.2f}") if ratios else "–"
        bad = sum(int(r["bad"] or 0) for r in runs.values())
        note = f" ({bad} bad replies)" if bad else ""
        print(f"| {key[0]} | {key[1]} | {server}{note} | {spread(rate, lambda x: f'{x:,.0f}')} | {spread(cpu, lambda x: f'{x:.2f}')} | {share:.0%} | {spread(lost, lambda x: f'{x:,.0f}')} | {paired} |")
PY
cat "$OUT/table.md"
echo "results: $RESULTS" >&2
