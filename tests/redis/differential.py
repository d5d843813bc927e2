"""Differential check of examples/redis against redis-server 7.0.15: the
same random commands to both, every reply compared byte for byte.

Not run by CI (which has no redis-server); run it by hand after changing
INCRBYFLOAT or the sorted-set ranges:

    redis-server --port 7777 --save '' --daemonize yes
    cargo run --release --example redis -- --addr tcp://127.0.0.1:7778 &
    python3 tests/redis/differential.py 7777 7778 incrbyfloat 20000 [seed]
    python3 tests/redis/differential.py 7777 7778 zrange 20000 [seed]

Both servers are FLUSHALLed first. Exits non-zero on any difference.
"""

import random
import socket
import sys


class Conn:
    """A RESP client that returns each reply's raw bytes."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.buf = b""

    def _fill(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill(len(self.buf) + 1)
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def _reply(self):
        line = self._line()
        kind, n = line[:1], line[1:-2]
        if kind in b"$=" and int(n) >= 0:
            self._fill(int(n) + 2)
            body, self.buf = self.buf[: int(n) + 2], self.buf[int(n) + 2 :]
            return line + body
        if kind in b"*~%>" and int(n) > 0:
            items = int(n) * (2 if kind == b"%" else 1)
            return line + b"".join(self._reply() for _ in range(items))
        return line

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()


def number():
    """Decimal, exponent, hex, huge, tiny and malformed numbers."""
    r = random.random()
    sign = random.choice(["", "-", "+"]) if random.random() < 0.5 else ""
    if r < 0.3:
        frac = "".join(random.choice("0123456789") for _ in range(random.randint(0, 20)))
        return sign + str(random.randint(0, 10 ** random.randint(0, 6))) + ("." + frac if frac else "")
    if r < 0.5:
        return sign + "0." + "".join(random.choice("0123456789") for _ in range(random.randint(1, 3)))
    if r < 0.7:
        return sign + "%d.%de%d" % (random.randint(0, 999), random.randint(0, 99999), random.randint(-30, 30))
    if r < 0.8:
        return sign + "%.*g" % (random.randint(1, 17), random.uniform(-1e6, 1e6))
    if r < 0.85:
        return sign + "0x%x.%xp%d" % (random.randint(0, 4096), random.randint(0, 255), random.randint(-40, 40))
    if r < 0.9:
        return sign + str(random.randint(0, 2**63))
    if r < 0.95:
        return sign + "%de%d" % (random.randint(1, 9), random.randint(-4960, 4940))
    return sign + random.choice(["inf", "1e", ".", "1.2.3", "0x", " 1", "nan", "1e-5000", "-0", "5e-18", "1.5e-17"])


def incrbyfloat(step):
    key = "f%d" % random.randint(0, 50)
    if random.random() < 0.05:
        return [("SET", key, number()), ("INCRBYFLOAT", key, number())]
    return [("INCRBYFLOAT", key, number())]


def score():
    return random.choice([str(random.randint(-5, 5)), "%.2f" % random.uniform(-5, 5), "inf", "-inf", "0", "-0", "0x2", "1e2"])


def bound():
    if random.random() < 0.7:
        value = random.choice([str(random.randint(-6, 6)), "%.1f" % random.uniform(-6, 6), "-inf", "+inf", "inf"])
        return random.choice(["", "("]) + value
    return random.choice(["x", "(", "", " 1", "nan", "1e400", "(-inf"])


def lex():
    return random.choice(["-", "+", "[" + random.choice("abcdefg"), "(" + random.choice("abcdefg"), "[", "(", "a", "[ab"])


def options(allowed):
    out = []
    for _ in range(random.randint(0, 3)):
        o = random.choice(allowed)
        out += ["LIMIT", str(random.randint(-2, 6)), str(random.randint(-2, 6))] if o == "LIMIT" else [o]
    return out


def zrange(step):
    cmds = []
    if step % 50 == 0:
        cmds.append(("DEL", "z", "y"))
        same = random.random() < 0.4
        zadd = ["ZADD", "z"]
        for m in random.sample("abcdefgh", random.randint(0, 8)):
            zadd += ["0" if same else score(), m]
        if len(zadd) > 2:
            cmds.append(tuple(zadd))
        cmds.append(("SET", "y", "1"))
    key = random.choice(["z", "z", "z", "y", "none"])
    c = random.choice(["ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZCOUNT"])
    if c in ("ZRANGE", "ZREVRANGE"):
        mode = random.choice(["rank", "score", "lex"])
        if mode == "rank":
            lo, hi = str(random.randint(-7, 7)), str(random.randint(-7, 7))
        else:
            lo, hi = (bound(), bound()) if mode == "score" else (lex(), lex())
        allowed = ["WITHSCORES", "LIMIT", "REV", "BYSCORE", "BYLEX", "X"] if c == "ZRANGE" else ["WITHSCORES", "REV", "LIMIT"]
        opts = options(allowed)
        if c == "ZRANGE" and mode != "rank" and random.random() < 0.8:
            opts.insert(0, "BYSCORE" if mode == "score" else "BYLEX")
        cmds.append((c, key, lo, hi, *opts))
    elif "LEX" in c:
        cmds.append((c, key, lex(), lex(), *options(["LIMIT", "WITHSCORES"])))
    elif c == "ZCOUNT":
        cmds.append((c, key, bound(), bound()))
    else:
        cmds.append((c, key, bound(), bound(), *options(["WITHSCORES", "LIMIT", "REV"])))
    return cmds


def main():
    redis_port, example_port, mode, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    random.seed(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
    gen = {"incrbyfloat": incrbyfloat, "zrange": zrange}[mode]
    redis, example = Conn(redis_port), Conn(example_port)
    redis.call("FLUSHALL")
    example.call("FLUSHALL")
    differences = 0
    for step in range(n):
        for cmd in gen(step):
            want, got = redis.call(*cmd), example.call(*cmd)
            if want != got:
                differences += 1
                if differences <= 10:
                    print(f"{cmd}:\n  redis-server: {want[:300]!r}\n  example:      {got[:300]!r}")
    print(f"{n} {mode} steps, {differences} differences")
    sys.exit(1 if differences else 0)


main()
