"""Holds N idle TLS connections (Python's ssl module, handshakes done and
one echo each) until its standard input closes, then closes them with
close_notify. Prints "ready" once all are open.

usage: idle_clients.py HOST PORT CAFILE N
"""
import socket
import ssl
import sys

host, port, cafile, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=cafile)
conns = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection((host, port), timeout=30), server_hostname="localhost")
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    conns.append(s)
print("ready", flush=True)
sys.stdin.read()
for s in conns:
    s.unwrap()
    s.close()
