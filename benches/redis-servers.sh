# Sourced by benches/redis.sh and benches/pubsub.sh: install redis-server
# and build examples/redis, then start and stop examples/redis ("nr") or
# redis-server ("redis") on a free port, pinned to $SERVER_CPU at niceness
# $NICE, logging into $OUT. Uses $NR_LOOPS (examples/redis's event loops);
# needs log().

# prepare_servers TOOL: installs redis-server and redis-tools with apt-get
# if redis-server or TOOL is missing, builds examples/redis (release); sets
# TARGET_DIR and NR_BIN.
prepare_servers() {
    if ! command -v redis-server >/dev/null || ! command -v "$1" >/dev/null; then
        log "installing redis-server and redis-tools"
        apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
    fi
    log "building examples/redis (release)"
    cargo build --release --example redis -q
    TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    NR_BIN="$TARGET_DIR/release/examples/redis"
}

PORT=0
SPID=0
# start_server NAME: starts it on a free port; sets SPID, PORT.
start_server() {
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    case $1 in
        nr) nice -n "$NICE" taskset -c "$SERVER_CPU" "$NR_BIN" --addr "tcp://127.0.0.1:$PORT" --loops "$NR_LOOPS" >"$OUT/nr.log" 2>&1 & ;;
        redis) nice -n "$NICE" taskset -c "$SERVER_CPU" redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --logfile "$OUT/redis.log" >/dev/null 2>&1 & ;;
        *) log "unknown server $1"; exit 2 ;;
    esac
    SPID=$!
    local deadline=$((SECONDS + 20))
    until redis-cli -p "$PORT" ping >/dev/null 2>&1; do
        if ((SECONDS > deadline)) || ! kill -0 "$SPID" 2>/dev/null; then
            log "$1 did not start (see $OUT/$1.log)"
            exit 1
        fi
        sleep 0.05
    done
}

stop_server() {
    kill -TERM "$SPID" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$SPID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -KILL "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
}
