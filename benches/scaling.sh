#!/usr/bin/env bash
# Multi-core scaling: 1, 2, 4, 8 event loops (or raw-epoll threads) on
# CPUs 0..L-1, the load generator on the upper half of the machine.
# Needs a machine with at least 16 cores; prints one JSON line per run and a
# summary table. Usage: benches/scaling.sh [BIN_DIR]   (default target/release)
#   SCALE_LOOPS="1 2 4 8"  SCALE_SERVERS="nr epoll"  SCALE_CONNS=2000
#   SCALE_PIPELINE=16  SCALE_DURATION=5  SCALE_WARMUP=1  SCALE_CLIENT_CPUS=8-15
set -euo pipefail
BIN=${1:-target/release}
LOOPS=${SCALE_LOOPS:-"1 2 4 8"}
SERVERS=${SCALE_SERVERS:-"nr epoll"}
CONNS=${SCALE_CONNS:-2000}
PIPELINE=${SCALE_PIPELINE:-16}
DURATION=${SCALE_DURATION:-5}
WARMUP=${SCALE_WARMUP:-1}
CLIENT_CPUS=${SCALE_CLIENT_CPUS:-8-15}
CLIENT_THREADS=${SCALE_CLIENT_THREADS:-8}
OUT=${SCALE_OUT:-$(mktemp -d)}
mkdir -p "$OUT"

start_server() { # name loops -> sets SPID, SADDR
    local name=$1 loops=$2 log=$OUT/server.log cmd
    case $name in
        nr) cmd="$BIN/nr-echo --loops $loops" ;;
        nr-rp) cmd="$BIN/nr-echo --loops $loops --reuseport 1" ;;
        epoll) cmd="$BIN/peer-epoll --threads $loops" ;;
        tokio-mt) cmd="$BIN/peer-tokio-mt --threads $loops" ;;
        *) echo "unknown server $name" >&2; exit 2 ;;
    esac
    taskset -c "0-$((loops - 1))" $cmd --addr 127.0.0.1:0 >"$log" 2>&1 &
    SPID=$!
    local deadline=$((SECONDS + 10))
    until grep -q 'addr=' "$log"; do
        ((SECONDS < deadline)) || { echo "$name did not start" >&2; cat "$log" >&2; exit 1; }
        kill -0 $SPID 2>/dev/null || { echo "$name exited" >&2; cat "$log" >&2; exit 1; }
        sleep 0.05
    done
    SADDR=$(grep -o 'addr=[0-9.:]*' "$log" | head -1 | cut -d= -f2)
}

: >"$OUT/results.jsonl"
for loops in $LOOPS; do
    for server in $SERVERS; do
        start_server "$server" "$loops"
        taskset -c "$CLIENT_CPUS" "$BIN/loadgen" --addr "$SADDR" --conns "$CONNS" --pipeline "$PIPELINE" \
            --duration "$DURATION" --warmup "$WARMUP" --threads "$CLIENT_THREADS" --server-pid "$SPID" \
            --label "$server:$loops" --json | tee -a "$OUT/results.jsonl"
        kill -TERM $SPID 2>/dev/null || true
        wait $SPID 2>/dev/null || true
    done
done
echo "results: $OUT/results.jsonl"
python3 - "$OUT/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith('{')]
base = {}
print("| server | loops | msgs/s | vs 1 loop | server CPU µs/msg | p99 µs |")
print("|---|---:|---:|---:|---:|---:|")
for r in rows:
    name, loops = r["label"].split(":")
    mps = r.get("msgs_per_s") or 0
    base.setdefault(name, mps or 1)
    cpu = r.get("server_cpu_us_per_msg") or float("nan")
    p99 = r.get("p99_us") or float("nan")
    print(f"| {name} | {loops} | {mps/1e6:.2f}M | {mps/base[name]:.2f}x | {cpu:.2f} | {p99:.0f} |")
PY
