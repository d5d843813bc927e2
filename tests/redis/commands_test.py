"""The commands of issue 18 item 5 as redis-py calls them (run by
tests/redis_clients.rs), with redis-py's default RESP3 and again with
protocol=2. Usage: python3 commands_test.py HOST PORT. Exits non-zero,
naming the failed check, on the first mismatch; prints "N checks passed".
"""

import threading
import time

import redis

from checks import HOST, PORT, check, done, eq


def raises(fn, text, what):
    try:
        fn()
    except redis.ResponseError as e:
        eq(str(e), text, what)
        return
    check(False, f"{what}: no error")


def client(protocol):
    kw = {} if protocol is None else {"protocol": protocol}
    return redis.Redis(host=HOST, port=PORT, socket_timeout=10, **kw)


def strings(r, tag):
    eq(r.set("s", "Hello World"), True, f"{tag} set")
    eq(r.getrange("s", 0, 4), b"Hello", f"{tag} getrange")
    eq(r.getrange("s", -5, -1), b"World", f"{tag} getrange negative")
    eq(r.setrange("s", 6, "Redis"), 11, f"{tag} setrange")
    eq(r.get("s"), b"Hello Redis", f"{tag} setrange result")
    eq(r.setrange("pad", 2, "x"), 3, f"{tag} setrange pads")
    eq(r.get("pad"), b"\x00\x00x", f"{tag} setrange zero bytes")
    eq(r.setex("sx", 100, "v"), True, f"{tag} setex")
    eq(r.ttl("sx"), 100, f"{tag} setex ttl")
    eq(r.psetex("px", 100_000, "v"), True, f"{tag} psetex")
    check(0 < r.pttl("px") <= 100_000, f"{tag} psetex pttl")
    raises(lambda: r.setex("sx", 0, "v"), "invalid expire time in 'setex' command", f"{tag} setex 0")
    eq(r.getset("sx", "w"), b"v", f"{tag} getset")
    eq(r.ttl("sx"), -1, f"{tag} getset clears the ttl")
    eq(r.getset("fresh", "w"), None, f"{tag} getset new")
    eq(r.getdel("fresh"), b"w", f"{tag} getdel")
    eq(r.exists("fresh"), 0, f"{tag} getdel deletes")


def lists(r, tag):
    r.rpush("l", "a", "b", "c", "a")
    eq(r.lindex("l", 1), b"b", f"{tag} lindex")
    eq(r.lindex("l", -1), b"a", f"{tag} lindex negative")
    eq(r.lindex("l", 9), None, f"{tag} lindex out of range")
    eq(r.lset("l", 1, "B"), True, f"{tag} lset")
    raises(lambda: r.lset("l", 9, "x"), "index out of range", f"{tag} lset out of range")
    raises(lambda: r.lset("nolist", 0, "x"), "no such key", f"{tag} lset no key")
    eq(r.linsert("l", "before", "B", "b"), 5, f"{tag} linsert")
    eq(r.linsert("l", "after", "zz", "x"), -1, f"{tag} linsert no pivot")
    eq(r.lpos("l", "a"), 0, f"{tag} lpos")
    eq(r.lpos("l", "a", rank=-1), 4, f"{tag} lpos rank")
    eq(r.lpos("l", "a", count=0), [0, 4], f"{tag} lpos count")
    eq(r.lrem("l", 0, "a"), 2, f"{tag} lrem")
    eq(r.lrange("l", 0, -1), [b"b", b"B", b"c"], f"{tag} after lrem")
    eq(r.ltrim("l", 0, 1), True, f"{tag} ltrim")
    eq(r.lrange("l", 0, -1), [b"b", b"B"], f"{tag} after ltrim")
    eq(r.rpoplpush("l", "l2"), b"B", f"{tag} rpoplpush")
    eq(r.lmove("l2", "l", "LEFT", "RIGHT"), b"B", f"{tag} lmove")
    eq(r.lmove("nolist", "l", "LEFT", "RIGHT"), None, f"{tag} lmove empty")
    eq(r.lrange("l", 0, -1), [b"b", b"B"], f"{tag} after lmove")


def hashes(r, tag):
    eq(r.hincrby("h", "n", 5), 5, f"{tag} hincrby")
    eq(r.hincrby("h", "n", -7), -2, f"{tag} hincrby negative")
    eq(r.hincrbyfloat("h", "f", 2.5), 2.5, f"{tag} hincrbyfloat")
    eq(r.hincrbyfloat("h", "f", 0.5), 3.0, f"{tag} hincrbyfloat again")
    r.hset("h", "s", "abc")
    raises(lambda: r.hincrby("h", "s", 1), "hash value is not an integer", f"{tag} hincrby non-integer")
    eq(r.hsetnx("h", "s", "x"), False, f"{tag} hsetnx existing")
    eq(r.hsetnx("h", "new", "x"), True, f"{tag} hsetnx new")
    eq(r.hstrlen("h", "s"), 3, f"{tag} hstrlen")
    eq(r.hstrlen("h", "none"), 0, f"{tag} hstrlen none")
    check(r.hrandfield("h") in {b"n", b"f", b"s", b"new"}, f"{tag} hrandfield")
    eq(sorted(r.hrandfield("h", 10)), [b"f", b"n", b"new", b"s"], f"{tag} hrandfield count")
    pairs = r.hrandfield("h", -5, withvalues=True)
    eq(len(pairs), 10, f"{tag} hrandfield withvalues repeats")
    all_pairs = r.hgetall("h")
    check(all(all_pairs[pairs[i]] == pairs[i + 1] for i in range(0, 10, 2)), f"{tag} hrandfield pairs")


def sets(r, tag):
    r.sadd("s1", "a", "b", "c", "d")
    r.sadd("s2", "c", "d", "e")
    eq(r.sinter("s1", "s2"), {b"c", b"d"}, f"{tag} sinter")
    eq(r.sunion("s1", "s2"), {b"a", b"b", b"c", b"d", b"e"}, f"{tag} sunion")
    eq(r.sdiff("s1", "s2"), {b"a", b"b"}, f"{tag} sdiff")
    eq(r.sinterstore("i", ["s1", "s2"]), 2, f"{tag} sinterstore")
    eq(r.sunionstore("u", ["s1", "s2"]), 5, f"{tag} sunionstore")
    eq(r.sdiffstore("d", ["s1", "s2"]), 2, f"{tag} sdiffstore")
    eq(r.smembers("d"), {b"a", b"b"}, f"{tag} sdiffstore result")
    eq(r.smove("s1", "s2", "a"), True, f"{tag} smove")
    eq(r.smove("s1", "s2", "zz"), False, f"{tag} smove missing")
    check(r.sismember("s2", "a"), f"{tag} smove moved")
    check(r.srandmember("s1") in {b"b", b"c", b"d"}, f"{tag} srandmember")
    eq(len(set(r.srandmember("s1", 2))), 2, f"{tag} srandmember distinct")
    eq(len(r.srandmember("s1", -7)), 7, f"{tag} srandmember repeats")


def zsets(r, tag):
    eq(r.zincrby("z", 1.5, "a"), 1.5, f"{tag} zincrby")
    eq(r.zincrby("z", 2, "a"), 3.5, f"{tag} zincrby again")
    r.zadd("z", {"b": 1, "c": 10, "d": 5})
    eq(r.zrank("z", "a"), 1, f"{tag} zrank")
    eq(r.zrevrank("z", "a"), 2, f"{tag} zrevrank")
    eq(r.zrank("z", "none"), None, f"{tag} zrank none")
    eq(r.zpopmax("z"), [(b"c", 10.0)], f"{tag} zpopmax")
    eq(r.zpopmax("z", 2), [(b"d", 5.0), (b"a", 3.5)], f"{tag} zpopmax count")
    r.zadd("zr", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    eq(r.zremrangebyrank("zr", 0, 1), 2, f"{tag} zremrangebyrank")
    eq(r.zremrangebyscore("zr", "(3", "+inf"), 2, f"{tag} zremrangebyscore")
    eq(r.zrange("zr", 0, -1), [b"c"], f"{tag} after zremrange")


def keys(r, tag):
    r.set("k1", "v", ex=100)
    eq(r.rename("k1", "k2"), True, f"{tag} rename")
    eq(r.ttl("k2"), 100, f"{tag} rename keeps the ttl")
    raises(lambda: r.rename("k1", "k3"), "no such key", f"{tag} rename missing")
    r.set("k3", "x")
    eq(r.renamenx("k2", "k3"), False, f"{tag} renamenx taken")
    eq(r.renamenx("k2", "k4"), True, f"{tag} renamenx")
    eq(r.copy("k4", "k5"), True, f"{tag} copy")
    eq(r.copy("k4", "k5"), False, f"{tag} copy taken")
    eq(r.copy("k4", "k5", replace=True), True, f"{tag} copy replace")
    eq(r.get("k5"), b"v", f"{tag} copy value")
    r.expireat("k5", 4102444800)
    eq(r.expiretime("k5"), 4102444800, f"{tag} expiretime")
    eq(r.pexpiretime("k5"), 4102444800000, f"{tag} pexpiretime")
    eq(r.expiretime("nokey"), -2, f"{tag} expiretime missing")
    eq(r.object("encoding", "k5"), b"raw", f"{tag} object encoding string")
    r.incr("counter")
    eq(r.object("encoding", "counter"), b"int", f"{tag} object encoding int")
    eq(r.object("encoding", "s1"), b"hashtable", f"{tag} object encoding set")


def blocking(r, tag):
    eq(r.blpop(["nokey"], timeout=0.1), None, f"{tag} blpop timeout")
    r.rpush("bl", "x")
    eq(list(r.blpop(["nokey", "bl"], timeout=1)), [b"bl", b"x"], f"{tag} blpop at hand")
    pusher = client(r.get_connection_kwargs().get("protocol"))

    def push_later(key):
        # Waits until the main client is blocked, then pushes.
        deadline = time.monotonic() + 10
        while int(pusher.info("clients")["blocked_clients"]) == 0:
            check(time.monotonic() < deadline, f"{tag} the client blocked")
        pusher.rpush(key, "pushed")

    t = threading.Thread(target=push_later, args=("wake",))
    t.start()
    eq(list(r.brpop(["wake"], timeout=0)), [b"wake", b"pushed"], f"{tag} brpop woken by another client")
    t.join()
    t = threading.Thread(target=push_later, args=("msrc",))
    t.start()
    eq(r.blmove("msrc", "mdst", 0, "LEFT", "RIGHT"), b"pushed", f"{tag} blmove woken")
    t.join()
    eq(r.lrange("mdst", 0, -1), [b"pushed"], f"{tag} blmove moved")
    eq(r.brpoplpush("nokey", "mdst", 0.05), None, f"{tag} brpoplpush timeout")
    p = r.pipeline()
    p.blpop(["nokey"], 0).rpush("q", 1).blpop(["q"], 0)
    eq([x if x is None or isinstance(x, int) else list(x) for x in p.execute()], [None, 1, [b"q", b"1"]], f"{tag} blocking commands inside MULTI do not block")


for protocol, tag in [(None, "resp3-default"), (2, "resp2")]:
    r = client(protocol)
    r.flushall()
    strings(r, tag)
    lists(r, tag)
    hashes(r, tag)
    sets(r, tag)
    zsets(r, tag)
    keys(r, tag)
    blocking(r, tag)

done()
