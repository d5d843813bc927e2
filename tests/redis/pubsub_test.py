"""examples/redis's pub/sub as redis-py sees it (run by tests/redis_pubsub.rs).

Usage: python3 pubsub_test.py HOST PORT. Every check runs with RESP3
(protocol=3: messages arrive as push frames) and again with RESP2
(subscribed mode). Exits non-zero, naming the failed check, on the first
mismatch; prints "N checks passed" at the end. No sleeps: every wait is a
get_message timeout or a join with a deadline.
"""

import threading
import time

import redis

from checks import HOST, PORT, check, done, eq


def client(protocol):
    return redis.Redis(host=HOST, port=PORT, socket_timeout=10, protocol=protocol)


def next_message(p, what, timeout=10.0):
    """The next message, waiting up to `timeout` (get_message's own wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = p.get_message(timeout=deadline - time.monotonic())
        if m is not None:
            return m
    check(False, f"{what}: no message within {timeout}s")


def msg(kind, channel, data, pattern=None):
    return {"type": kind, "pattern": pattern, "channel": channel, "data": data}


def get_message_and_patterns(proto):
    tag = f"resp{proto}"
    r = client(proto)
    p = r.pubsub()
    p.subscribe("news", "sport")
    eq(next_message(p, tag), msg("subscribe", b"news", 1), f"{tag} subscribe news")
    eq(next_message(p, tag), msg("subscribe", b"sport", 2), f"{tag} subscribe sport")
    p.psubscribe("n*", "w?ather")
    eq(next_message(p, tag), msg("psubscribe", b"n*", 3), f"{tag} psubscribe n*")
    eq(next_message(p, tag), msg("psubscribe", b"w?ather", 4), f"{tag} psubscribe w?ather")
    eq(r.pubsub_numsub("news", "sport", "none"), [(b"news", 1), (b"sport", 1), (b"none", 0)], f"{tag} numsub")
    eq(r.pubsub_numpat(), 2, f"{tag} numpat")
    eq(sorted(r.pubsub_channels()), [b"news", b"sport"], f"{tag} channels")
    eq(r.pubsub_channels("s*"), [b"sport"], f"{tag} channels s*")
    # A channel and a pattern both match: two deliveries, counted.
    eq(r.publish("news", "extra"), 2, f"{tag} publish news")
    eq(next_message(p, tag), msg("message", b"news", b"extra"), f"{tag} message")
    eq(next_message(p, tag), msg("pmessage", b"news", b"extra", b"n*"), f"{tag} pmessage")
    eq(r.publish("weather", b"\x00\xffbinary\r\n"), 1, f"{tag} publish weather")
    eq(
        next_message(p, tag),
        msg("pmessage", b"weather", b"\x00\xffbinary\r\n", b"w?ather"),
        f"{tag} binary pmessage",
    )
    eq(r.publish("quiet", "x"), 0, f"{tag} publish to nobody")
    eq(p.get_message(timeout=0.05), None, f"{tag} nothing more")
    p.ping("hi")
    eq(next_message(p, tag), msg("pong", None, b"hi"), f"{tag} ping while subscribed")
    p.unsubscribe("sport")
    eq(next_message(p, tag), msg("unsubscribe", b"sport", 3), f"{tag} unsubscribe sport")
    p.punsubscribe()
    got = {next_message(p, tag)["channel"], next_message(p, tag)["channel"]}
    eq(got, {b"n*", b"w?ather"}, f"{tag} punsubscribe all")
    eq(r.pubsub_numpat(), 0, f"{tag} numpat after punsubscribe")
    p.unsubscribe()
    eq(next_message(p, tag), msg("unsubscribe", b"news", 0), f"{tag} unsubscribe all")
    eq(r.pubsub_numsub("news"), [(b"news", 0)], f"{tag} numsub after")
    p.close()
    r.close()


def listen_in_a_thread(proto):
    """listen() in another thread, a publisher in this one, 200 messages."""
    tag = f"resp{proto} listen"
    r = client(proto)
    p = r.pubsub(ignore_subscribe_messages=True)
    p.subscribe("feed")
    got = []

    def consume():
        for m in p.listen():
            if m["type"] == "message":
                got.append(m["data"])
                if len(got) == 200:
                    return

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    # The subscription is in place once the server counts it.
    deadline = time.monotonic() + 10
    while r.pubsub_numsub("feed") != [(b"feed", 1)]:
        check(time.monotonic() < deadline, f"{tag}: subscription not seen")
    for i in range(200):
        eq(r.publish("feed", f"m{i}"), 1, f"{tag} publish {i}")
    t.join(10)
    check(not t.is_alive(), f"{tag}: listener did not get 200 messages ({len(got)})")
    eq(got, [f"m{i}".encode() for i in range(200)], f"{tag} messages in order")
    p.close()
    r.close()


def handlers_and_run_in_thread(proto):
    """Callbacks per channel and pattern, driven by run_in_thread."""
    tag = f"resp{proto} run_in_thread"
    r = client(proto)
    p = r.pubsub()
    seen = []
    done = threading.Event()

    def on_alert(m):
        seen.append(("alert", m["data"]))

    def on_log(m):
        seen.append((m["pattern"], m["channel"], m["data"]))
        if m["data"] == b"last":
            done.set()

    p.subscribe(alert=on_alert)
    p.psubscribe(**{"log.*": on_log})
    worker = p.run_in_thread(sleep_time=0.01, daemon=True)
    deadline = time.monotonic() + 10
    while r.pubsub_numpat() != 1 or r.pubsub_numsub("alert") != [(b"alert", 1)]:
        check(time.monotonic() < deadline, f"{tag}: subscriptions not seen")
    eq(r.publish("alert", "fire"), 1, f"{tag} publish alert")
    eq(r.publish("log.web", "GET /"), 1, f"{tag} publish log.web")
    eq(r.publish("log.db", "last"), 1, f"{tag} publish log.db")
    check(done.wait(10), f"{tag}: handlers not called")
    worker.stop()
    worker.join(10)
    eq(
        seen,
        [("alert", b"fire"), (b"log.*", b"log.web", b"GET /"), (b"log.*", b"log.db", b"last")],
        f"{tag} handler calls",
    )
    p.close()
    r.close()


def subscribed_mode(proto):
    """RESP2 refuses ordinary commands on a subscribed connection; RESP3 runs them."""
    tag = f"resp{proto} subscribed mode"
    r = client(proto)
    p = r.pubsub()
    p.subscribe("x")
    eq(next_message(p, tag), msg("subscribe", b"x", 1), f"{tag} subscribe")
    conn = p.connection
    conn.send_command("GET", "k")
    if proto == 2:
        try:
            conn.read_response()
            check(False, f"{tag}: GET answered while subscribed")
        except redis.ResponseError as e:
            eq(
                str(e),
                "Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                f"{tag} error",
            )
    else:
        eq(conn.read_response(), None, f"{tag} GET answered")
    p.close()
    r.close()


for proto in (3, 2):
    get_message_and_patterns(proto)
    listen_in_a_thread(proto)
    handlers_and_run_in_thread(proto)
    subscribed_mode(proto)

done()
