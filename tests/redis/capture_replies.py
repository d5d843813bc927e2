"""Prints the exact reply bytes a server sends to each command of a file.

Usage: python3 capture_replies.py PORT < commands.txt > commands.expected

Made tests/redis/commands.expected from redis-server 7.0.15 (which CI does
not have); tests/redis_commands.rs replays commands.txt against the
example and compares byte for byte. One command per line, words split on
single spaces ("" is an empty word, \\s a space inside a word); lines
starting with # are comments and blank lines are skipped; a line
starting with "! " is sent and its reply read but not compared (HELLO:
its client id differs), printed as "(not compared)". Each reply is
printed on one line, escaped: \\r, \\n, \\\\ and \\xNN for other bytes outside
printable ASCII.
"""

import socket
import sys


def words(line):
    return [b"" if w == '""' else w.replace("\\s", " ").encode() for w in line.split(" ")]


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline()
    kind, body = line[:1], line
    if kind in b"$=":
        n = int(line[1:-2])
        if n >= 0:
            body += f.read(n + 2)
    elif kind in b"*~>":
        for _ in range(max(int(line[1:-2]), 0)):
            body += read_reply(f)
    elif kind == b"%":
        for _ in range(2 * int(line[1:-2])):
            body += read_reply(f)
    return body


def escape(data):
    out = []
    for b in data:
        if b == 0x0D:
            out.append("\\r")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def main():
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    f = s.makefile("rb")
    for line in sys.stdin.read().splitlines():
        if not line or line.startswith("#"):
            continue
        compared = not line.startswith("! ")
        s.sendall(encode(words(line if compared else line[2:])))
        reply = read_reply(f)
        print(escape(reply) if compared else "(not compared)")


main()
