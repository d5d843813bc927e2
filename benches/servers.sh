# Sourced by benches/e2e.sh and benches/callgrind.sh: the server names and
# their command lines (without taskset). Every server binds 127.0.0.1:0 and
# prints "pid=PID addr=IP:PORT" once it is listening; all stop on SIGTERM.
# Uses $BIN, $LOOPS (loops/threads) and $NR_REUSEPORT (0|1).

# server_cmd NAME: prints the command line, or returns 1 for an unknown name.
server_cmd() {
    local a=127.0.0.1:0
    case $1 in
        nr) echo "$BIN/nr-echo --addr $a --loops $LOOPS --reuseport $NR_REUSEPORT" ;;
        # nr-echo built from another commit, copied into $BIN as nr-echo-base:
        # before/after runs of one change in one sitting.
        nr-base) echo "$BIN/nr-echo-base --addr $a --loops $LOOPS --reuseport $NR_REUSEPORT" ;;
        epoll) echo "$BIN/peer-epoll --addr $a --threads $LOOPS" ;;
        epoll-et) echo "$BIN/peer-epoll --addr $a --threads $LOOPS --et 1" ;;
        tokio-mt) echo "$BIN/peer-tokio-mt --addr $a --threads $LOOPS" ;;
        tokio-ct) echo "$BIN/peer-tokio-ct --addr $a --threads $LOOPS" ;;
        tokio-lf) echo "$BIN/peer-tokio-lf --addr $a --threads $LOOPS" ;;
        nr-lf) echo "$BIN/nr-lf --addr $a --loops $LOOPS --reuseport $NR_REUSEPORT" ;;
        # nr-lf from another commit, copied into $BIN as nr-lf-base (as nr-base).
        nr-lf-base) echo "$BIN/nr-lf-base --addr $a --loops $LOOPS --reuseport $NR_REUSEPORT" ;;
        # UDP echo (benches/udp.sh)
        nr-udp) echo "$BIN/nr-echo --addr udp://$a --loops $LOOPS" ;;
        # ... with the kernel's default receive buffer instead of the engine's
        # 4 MiB (106,496 asked, which the kernel doubles to rmem_default's
        # 212,992): the same buffer as the raw peers.
        nr-udp-kbuf) echo "$BIN/nr-echo --addr udp://$a --loops $LOOPS --rcvbuf 106496" ;;
        udp-epoll) echo "$BIN/peer-udp-epoll --addr $a --threads $LOOPS" ;;
        # nr-echo built from another commit (copied in as nr-echo-base), on UDP.
        nr-udp-base) echo "$BIN/nr-echo-base --addr udp://$a --loops $LOOPS" ;;
        udp-mmsg) echo "$BIN/peer-udp-mmsg --addr $a --threads $LOOPS" ;;
        udp-tokio) echo "$BIN/peer-udp-tokio --addr $a --threads $LOOPS" ;;
        *) return 1 ;;
    esac
}

# wait_ready LOGFILE SECONDS: waits, up to SECONDS, for server $SPID to print
# its ready line into LOGFILE, and sets SADDR from it. Returns 1 if the
# server exits first or the time runs out.
wait_ready() {
    local logf=$1 deadline=$((SECONDS + $2)) line
    SADDR=""
    while ((SECONDS < deadline)); do
        line=$(grep -m1 '^pid=' "$logf" 2>/dev/null || true)
        if [[ -n $line ]]; then
            SADDR=$(sed -E 's/.* addr=([^ ]+).*/\1/' <<<"$line")
            return 0
        fi
        kill -0 "$SPID" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}
