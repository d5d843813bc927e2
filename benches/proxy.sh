#!/usr/bin/env bash
# The proxy's added cost: loadgen (echo mode, which checks every byte it
# gets back) straight to an echo server, and through a proxy to the same
# kind of echo server, alternated in one sitting. The echo server and the
# proxy share one core, loadgen has the other. Reports messages/s, p99,
# and CPU per message of the echo server and of the proxy (from
# /proc/PID/stat): the proxy's CPU per message is what the extra hop costs.
#
#   benches/proxy.sh
#   PROXY_REPS=7 PROXY_ROWS="100:1 100:16 16:1:1048576" benches/proxy.sh
#   PROXY_PATHS="direct proxied haproxy" benches/proxy.sh
#   PROXY_BASELINE=/path/to/an/older/examples/proxy benches/proxy.sh
#
# A row is CONNS:IN_FLIGHT[:MESSAGE_BYTES] (64 B by default). The paths:
#   direct          loadgen straight to the echo server
#   proxied         examples/proxy (netreactor's Conn::relay_to)
#   haproxy         HAProxy (Debian's 2.6), `mode tcp`, one thread
#   haproxy-splice  the same with `option splice-auto` (splice(2) through pipes)
#   tokio           bench/src/bin/peer-tokio-proxy.rs: tokio's copy_bidirectional
#                   on one current-thread runtime
# HAProxy is installed with apt-get when missing.
#
# PROXY_BASELINE adds a third path, "baseline": the same hop through another
# build of the proxy (an older commit's, say), alternated with the others,
# for a before/after ratio from one sitting.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${PROXY_REPS:-5}
ROWS=${PROXY_ROWS:-"100:1 100:16 16:1:1048576"}
PATHS=${PROXY_PATHS:-"direct proxied haproxy haproxy-splice tokio"}
DURATION=${PROXY_DURATION:-5}
OUT=${PROXY_OUT:-$ROOT/target/proxy/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
# PROXY_BIN=DIR: prebuilt binaries (loadgen, nr-echo, examples/proxy) instead of building.
if [[ -z ${PROXY_BIN:-} ]]; then
    cargo build --release -p netreactor-bench --bins >&2
    cargo build --release --example proxy >&2
fi
if [[ " $PATHS " == *" haproxy"* ]] && ! command -v haproxy > /dev/null; then
    apt-get update -qq && apt-get install -y -qq haproxy >&2
fi
# haproxy_cfg PORT UPSTREAM SPLICE: a one-thread `mode tcp` HAProxy config.
haproxy_cfg() {
    cat <<CFG
global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
$([[ $3 == 1 ]] && echo "    option splice-auto")
frontend relay
    bind 127.0.0.1:$1
    default_backend echo
backend echo
    server echo $2
CFG
}
T=${PROXY_BIN:-"${CARGO_TARGET_DIR:-$ROOT/target}/release"}

LOOPS=1
NR_REUSEPORT=0
BIN=$T
# shellcheck source=benches/servers.sh
source "$ROOT/benches/servers.sh"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
for row in $ROWS; do
    IFS=: read -r conns pipeline size <<< "$row"
    size=${size:-64}
    for rep in $(seq "$REPS"); do
        for path in $PATHS ${PROXY_BASELINE:+baseline}; do
            # shellcheck disable=SC2046
            taskset -c 0 $(server_cmd nr) > "$OUT/echo.log" 2>&1 &
            SPID=$!
            epid=$SPID
            wait_ready "$OUT/echo.log" 10 || { echo "the echo server did not start" >&2; exit 1; }
            target=$SADDR; measured=$epid; ppid=""
            if [[ $path != direct ]]; then
                p=$(port)
                case $path in
                    haproxy | haproxy-splice)
                        haproxy_cfg "$p" "$SADDR" "$([[ $path == haproxy-splice ]] && echo 1 || echo 0)" \
                            > "$OUT/haproxy.cfg"
                        taskset -c 0 haproxy -db -f "$OUT/haproxy.cfg" > "$OUT/proxy.log" 2>&1 &
                        ;;
                    tokio)
                        taskset -c 0 "$T/peer-tokio-proxy" --addr "127.0.0.1:$p" --upstream "$SADDR" \
                            > "$OUT/proxy.log" 2>&1 &
                        ;;
                    *)
                        proxy_bin="$T/examples/proxy"
                        [[ $path == baseline ]] && proxy_bin=$PROXY_BASELINE
                        taskset -c 0 "$proxy_bin" --addr "tcp://127.0.0.1:$p" --loops 1 --upstream "tcp://$SADDR" \
                            > "$OUT/proxy.log" 2>&1 &
                        ;;
                esac
                ppid=$!
                for _ in $(seq 200); do (echo > "/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.02; done
                # A proxy that could not bind has exited (and the port may
                # have been someone else's by then).
                kill -0 "$ppid" 2>/dev/null || { echo "the $path proxy did not start:" >&2; cat "$OUT/proxy.log" >&2; exit 1; }
                target=127.0.0.1:$p; measured=$ppid
            fi
            if line=$(taskset -c 1 "$T/loadgen" --addr "$target" --conns "$conns" --pipeline "$pipeline" --size "$size" \
                --duration "$DURATION" --server-pid "$measured" --label "$path" --json 2>"$OUT/loadgen.err"); then
                echo "{\"row\":\"$row\",\"rep\":$rep,\"path\":\"$path\",\"loadgen\":$line}" >> "$RESULTS"
                echo "$row rep $rep $path: $line" >&2
            else
                # Left out of the table (and of its pairs), said here.
                echo "$row rep $rep $path: loadgen failed: $(head -2 "$OUT/loadgen.err" | tr '\n' ' ')" >&2
            fi
            [[ -n $ppid ]] && { kill "$ppid"; wait "$ppid" 2>/dev/null || true; }
            kill "$epid"; wait "$epid" 2>/dev/null || true
        done
    done
done
python3 - "$RESULTS" <<'PY' | tee "$OUT/table.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| conns × in flight | path | msgs/s median | p99 µs median | CPU µs/msg of the measured server, median (min–max) |")
print("|---|---|---:|---:|---:|")
for row in dict.fromkeys(r["row"] for r in rows):
    for path in ("direct", "proxied", "haproxy", "haproxy-splice", "tokio", "baseline"):
        rs = [r["loadgen"] for r in rows if r["row"] == row and r["path"] == path]
        if not rs:
            continue
        cpu = [x["server_cpu_us_per_msg"] for x in rs]
        what = {"direct": "echo server", "proxied": "netreactor proxy (the added hop)", "haproxy": "HAProxy",
                "haproxy-splice": "HAProxy, splice-auto", "tokio": "tokio copy_bidirectional",
                "baseline": "baseline proxy"}[path]
        print(f"| {row.replace(':', ' × ')} | {path}: {what} | {statistics.median(x['msgs_per_s'] for x in rs):,.0f} | "
              f"{statistics.median(x['p99_us'] for x in rs):,.0f} | {statistics.median(cpu):.2f} ({min(cpu):.2f}–{max(cpu):.2f}) |")
    # Paired by repetition: proxied over baseline, same sitting.
    reps = {}
    for r in rows:
        if r["row"] == row:
            reps.setdefault(r["rep"], {})[r["path"]] = r["loadgen"]["server_cpu_us_per_msg"]
    for anchor in ("direct", "haproxy", "haproxy-splice", "tokio", "baseline"):
        ratios = [v["proxied"] / v[anchor] for v in reps.values() if "proxied" in v and anchor in v]
        if ratios:
            print(f"| {row.replace(':', ' × ')} | proxied / {anchor}, paired | | | "
                  f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) |")
PY
