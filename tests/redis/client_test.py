"""examples/redis as redis-py sees it (run by tests/redis_clients.rs).

Usage: python3 client_test.py HOST PORT. redis-py 8 speaks RESP3 by default
(HELLO 3, then CLIENT MAINT_NOTIFICATIONS and CLIENT SETINFO); every check
runs with that default and again with protocol=2. Exits non-zero, naming the
failed check, on the first mismatch; prints "N checks passed" at the end.
"""

import threading

import redis

from checks import HOST, PORT, check, done, eq


def client(protocol, **kw):
    kw = dict(kw)
    if protocol is not None:
        kw["protocol"] = protocol
    return redis.Redis(host=HOST, port=PORT, socket_timeout=10, **kw)


def commands(r, tag):
    r.flushall()
    eq(r.ping(), True, f"{tag} ping")
    eq(r.echo("hi"), b"hi", f"{tag} echo")
    eq(r.set("k", "v"), True, f"{tag} set")
    eq(r.get("k"), b"v", f"{tag} get")
    eq(r.set("k", "w", nx=True), None, f"{tag} set nx")
    eq(r.set("k", "w", xx=True, get=True), b"v", f"{tag} set xx get")
    eq(r.set("k", "x", ex=100), True, f"{tag} set ex")
    eq(r.ttl("k"), 100, f"{tag} ttl")
    eq(r.set("k", "y", keepttl=True), True, f"{tag} set keepttl")
    check(0 < r.pttl("k") <= 100_000, f"{tag} pttl")
    eq(r.persist("k"), True, f"{tag} persist")
    eq(r.ttl("k"), -1, f"{tag} ttl after persist")
    eq(r.getex("k", px=5000), b"y", f"{tag} getex")
    eq(r.getdel("k"), b"y", f"{tag} getdel")
    eq(r.exists("k"), 0, f"{tag} exists")
    eq(r.incr("n"), 1, f"{tag} incr")
    eq(r.incrby("n", 9), 10, f"{tag} incrby")
    eq(r.decr("n"), 9, f"{tag} decr")
    eq(r.decrby("n", 4), 5, f"{tag} decrby")
    eq(r.incrbyfloat("f", 2.5), 2.5, f"{tag} incrbyfloat")
    eq(r.append("s", "ab"), 2, f"{tag} append")
    eq(r.strlen("s"), 2, f"{tag} strlen")
    eq(r.mset({"a": 1, "b": 2}), True, f"{tag} mset")
    eq(r.mget("a", "b", "none"), [b"1", b"2", None], f"{tag} mget")
    eq(r.msetnx({"a": 3, "c": 4}), False, f"{tag} msetnx")
    eq(r.type("a"), b"string", f"{tag} type")
    eq(r.expire("a", 50), True, f"{tag} expire")
    eq(r.pexpire("a", 50_000), True, f"{tag} pexpire")
    eq(sorted(r.keys("*")), [b"a", b"b", b"f", b"n", b"s"], f"{tag} keys")
    eq(sorted(r.scan_iter(match="?", count=2)), [b"a", b"b", b"f", b"n", b"s"], f"{tag} scan")
    eq(r.dbsize(), 5, f"{tag} dbsize")
    eq(r.delete("a", "b", "none"), 2, f"{tag} del")
    eq(r.unlink("c", "s"), 1, f"{tag} unlink")
    eq(r.hset("h", mapping={"f1": "v1", "f2": "v2"}), 2, f"{tag} hset")
    eq(r.hget("h", "f1"), b"v1", f"{tag} hget")
    eq(r.hgetall("h"), {b"f1": b"v1", b"f2": b"v2"}, f"{tag} hgetall")
    eq(r.hlen("h"), 2, f"{tag} hlen")
    eq(r.hdel("h", "f1", "none"), 1, f"{tag} hdel")
    eq(r.lpush("l", "a", "b"), 2, f"{tag} lpush")
    eq(r.rpush("l", "c"), 3, f"{tag} rpush")
    eq(r.lrange("l", 0, -1), [b"b", b"a", b"c"], f"{tag} lrange")
    eq(r.llen("l"), 3, f"{tag} llen")
    eq(r.lpop("l"), b"b", f"{tag} lpop")
    eq(r.rpop("l", 2), [b"c", b"a"], f"{tag} rpop count")
    eq(r.lpop("l"), None, f"{tag} lpop empty")
    eq(r.sadd("set", "x", "y"), 2, f"{tag} sadd")
    eq(r.smembers("set"), {b"x", b"y"}, f"{tag} smembers")
    eq(r.zadd("z", {"a": 1.5, "b": 0.5}), 2, f"{tag} zadd")
    eq(r.zscore("z", "a"), 1.5, f"{tag} zscore")
    eq(r.zrange("z", 0, -1, withscores=True), [(b"b", 0.5), (b"a", 1.5)], f"{tag} zrange withscores")
    eq(r.zadd("z", {"c": 3, "d": 4}), 2, f"{tag} zadd more")
    eq(r.zrangebyscore("z", "(0.5", 3), [b"a", b"c"], f"{tag} zrangebyscore")
    eq(r.zrevrangebyscore("z", "+inf", 1, start=1, num=2), [b"c", b"a"], f"{tag} zrevrangebyscore limit")
    eq(r.zrevrange("z", 0, 0, withscores=True), [(b"d", 4.0)], f"{tag} zrevrange withscores")
    eq(r.zrange("z", 4, 1, byscore=True, desc=True, offset=1, num=1), [b"c"], f"{tag} zrange byscore rev limit")
    eq(r.zcount("z", 1, "+inf"), 3, f"{tag} zcount")
    eq(r.zadd("lex", {"x": 0, "y": 0, "w": 0}), 3, f"{tag} zadd same scores")
    eq(r.zrangebylex("lex", "(w", "+"), [b"x", b"y"], f"{tag} zrangebylex")
    eq(r.delete("lex"), 1, f"{tag} del lex")
    eq(r.zrem("z", "c", "d"), 2, f"{tag} zrem")
    eq(r.zpopmin("z"), [(b"b", 0.5)], f"{tag} zpopmin")
    eq(r.incrbyfloat("fl", 0.1), 0.1, f"{tag} incrbyfloat")
    eq(r.incrbyfloat("fl", 0.2), 0.3, f"{tag} incrbyfloat long double")
    eq(r.get("fl"), b"0.3", f"{tag} incrbyfloat stores Redis's text")
    eq(r.delete("fl"), 1, f"{tag} del fl")
    try:
        r.lpush("h", "x")
        check(False, f"{tag} WRONGTYPE raises")
    except redis.ResponseError as e:
        eq(str(e), "WRONGTYPE Operation against a key holding the wrong kind of value", f"{tag} wrongtype text")
    eq(r.config_get("save"), {"save": ""}, f"{tag} config get save")
    eq(r.config_get("appendonly"), {"appendonly": "no"}, f"{tag} config get appendonly")
    info = r.info()
    eq(info["redis_version"], "7.0.15", f"{tag} info version")
    check(info["connected_clients"] >= 1, f"{tag} info clients")
    eq(r.info("keyspace")["db0"]["keys"], 5, f"{tag} info keyspace")
    eq(r.client_setname("py-" + tag), True, f"{tag} client setname")
    eq(r.client_getname(), "py-" + tag, f"{tag} client getname")
    me = [c for c in r.client_list() if c["name"] == "py-" + tag]
    eq(len(me), 1, f"{tag} client list has this client")
    check("lib-name" not in me[0], f"{tag} CLIENT LIST is 7.0's (no lib-name: 7.0 has no CLIENT SETINFO, which redis-py tolerates)")
    eq(int(me[0]["id"]), r.client_id(), f"{tag} client id")
    check(r.command_count() > 50, f"{tag} command count")
    eq(r.select(0), True, f"{tag} select 0")
    eq(r.flushdb(), True, f"{tag} flushdb")


def databases(protocol, tag):
    """Redis(db=N) sends SELECT N first; each database keeps its own keys."""
    r0, r1 = client(protocol), client(protocol, db=1)
    r0.flushall()
    eq(r1.set("a", "one"), True, f"{tag} set in db 1")
    eq(r0.get("a"), None, f"{tag} db 0 does not see db 1's key")
    eq(r1.get("a"), b"one", f"{tag} get in db 1")
    eq(r1.dbsize(), 1, f"{tag} dbsize of db 1")
    eq(r0.dbsize(), 0, f"{tag} dbsize of db 0")
    eq(r0.info("keyspace"), {"db1": {"keys": 1, "expires": 0, "avg_ttl": 0}}, f"{tag} info keyspace per db")
    eq(r1.move("a", 2), True, f"{tag} move to db 2")
    eq(client(protocol, db=2).get("a"), b"one", f"{tag} the key is in db 2")
    eq(r0.swapdb(0, 2), True, f"{tag} swapdb")
    eq(r0.get("a"), b"one", f"{tag} db 0 holds what db 2 held")
    eq(r1.flushdb(), True, f"{tag} flushdb of db 1")
    eq(r0.get("a"), b"one", f"{tag} flushdb left db 0 alone")
    p = r1.pipeline()
    p.set("b", 1).get("b")
    eq(p.execute(), [True, b"1"], f"{tag} transaction in db 1")
    eq(r0.exists("b"), 0, f"{tag} the transaction wrote db 1 only")
    eq(r0.flushall(), True, f"{tag} flushall")
    eq(r1.dbsize(), 0, f"{tag} flushall emptied db 1")


def pipelines(r, tag):
    r.flushall()
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set(f"k{i}", i)
        p.incr("counter")
    p.get("k999")
    got = p.execute()
    eq(got[-1], b"999", f"{tag} plain pipeline last reply")
    eq(got[-2], 1000, f"{tag} plain pipeline counter")
    # pipeline() wraps the commands in MULTI/EXEC.
    p = r.pipeline()
    p.set("t", 1).incr("t").get("t").lpush("tl", "a")
    eq(p.execute(), [True, 2, b"2", 1], f"{tag} transaction pipeline")
    # An error inside EXEC is one reply; the rest still run.
    p = r.pipeline()
    p.set("t", "x").incr("t").get("t")
    try:
        p.execute()
        check(False, f"{tag} transaction with a failing command raises")
    except redis.ResponseError:
        pass
    eq(r.get("t"), b"x", f"{tag} the other commands of the transaction ran")


def watch_and_retry(r, tag):
    r.set("balance", 100)

    def spend(pipe):
        balance = int(pipe.get("balance"))
        pipe.multi()
        pipe.set("balance", balance - 1)

    # Concurrent spenders retry on WATCH conflicts; every spend counts once.
    def worker():
        rr = client(r.get_connection_kwargs().get("protocol"))
        for _ in range(25):
            rr.transaction(spend, "balance")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eq(r.get("balance"), b"0", f"{tag} WATCH-based transactions lost no update")


for protocol, tag in [(None, "resp3-default"), (2, "resp2")]:
    r = client(protocol)
    commands(r, tag)
    databases(protocol, tag)
    pipelines(r, tag)
    watch_and_retry(r, tag)
    hello = r.execute_command("HELLO")
    proto = hello.get(b"proto", hello.get("proto")) if isinstance(hello, dict) else dict(zip(hello[::2], hello[1::2]))[b"proto"]
    eq(proto, 3 if protocol is None else 2, f"{tag} speaks the protocol it asked for")

done()
