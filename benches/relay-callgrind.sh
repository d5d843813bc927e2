#!/usr/bin/env bash
# User-space instructions per relayed message through examples/proxy,
# counted by valgrind's callgrind (deterministic, unlike benches/proxy.sh's
# CPU times): an nr-echo upstream, the proxy under callgrind, loadgen with
# one connection and one 64 B message in flight, a short and a long run;
#
#   instructions per message = (Ir_long - Ir_short) / (msgs_long - msgs_short)
#
# (start-up and shutdown cancel out; as in benches/callgrind.sh).
#
#   benches/relay-callgrind.sh                       # the proxy built from this tree
#   RCG_PROXY=/path/to/an/older/proxy benches/relay-callgrind.sh
#
# Environment (defaults in brackets): RCG_PROXY [target/release/examples/proxy,
# built], RCG_SHORT / RCG_LONG seconds [2 / 6], RCG_OUT [target/relay-callgrind/<timestamp>],
# RCG_VALGRIND_ARGS more valgrind options (e.g. --dump-instr=yes) [].
# Needs: valgrind, taskset, cargo (unless RCG_PROXY and the bench binaries exist).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T=${CARGO_TARGET_DIR:-$ROOT/target}/release
SHORT=${RCG_SHORT:-2}
LONG=${RCG_LONG:-6}
OUT=${RCG_OUT:-$ROOT/target/relay-callgrind/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install -y valgrind)" >&2; exit 1; }
if [[ -z ${RCG_PROXY:-} ]]; then
    cargo build --release --example proxy >&2
    cargo build --release -p netreactor-bench --bin nr-echo --bin loadgen >&2
fi
PROXY=${RCG_PROXY:-$T/examples/proxy}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EPORT=$(free_port)
taskset -c 1 "$T/nr-echo" --addr "127.0.0.1:$EPORT" --loops 1 > "$OUT/echo.log" 2>&1 &
EPID=$!
trap 'kill $EPID 2>/dev/null || true' EXIT
for _ in $(seq 200); do (echo > "/dev/tcp/127.0.0.1/$EPORT") 2>/dev/null && break; sleep 0.02; done
# run SECONDS LABEL: prints "MESSAGES INSTRUCTIONS".
run() {
    local port pid line msgs ir
    port=$(free_port)
    # shellcheck disable=SC2086 # RCG_VALGRIND_ARGS is split into options on purpose
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$2" ${RCG_VALGRIND_ARGS:-} \
        "$PROXY" --addr "tcp://127.0.0.1:$port" --loops 1 --upstream "tcp://127.0.0.1:$EPORT" \
        > "$OUT/proxy.$2.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    line=$(taskset -c 1 "$T/loadgen" --addr "127.0.0.1:$port" --conns 1 --pipeline 1 --size 64 \
        --duration "$1" --warmup 0 --json)
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    msgs=$(sed -nE 's/.*"msgs":([0-9]+).*/\1/p' <<<"$line")
    ir=$(grep -m1 -E '^(summary|totals):' "$OUT/callgrind.$2" | awk '{print $2}')
    echo "$msgs $ir"
}
read -r ms is < <(run "$SHORT" short)
read -r ml il < <(run "$LONG" long)
echo "short: $ms msgs, $is instructions; long: $ml msgs, $il instructions"
echo "instructions per relayed message: $(( (il - is) / (ml - ms) ))  (callgrind files in $OUT)"
