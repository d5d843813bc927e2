"""examples/http as Python's http.client sees it (run by tests/http_clients.rs).

Usage: python3 client.py HOST PORT. Exits non-zero, with the failed check,
on the first mismatch; prints "N passed, 0 failed" when all pass.
"""

import http.client
import json
import os
import sys

HOST, PORT = sys.argv[1], int(sys.argv[2])
TIMEOUT = 10
checks = 0


def check(cond, what):
    global checks
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def connect():
    return http.client.HTTPConnection(HOST, PORT, timeout=TIMEOUT)


def keep_alive():
    conn = connect()
    conn.request("GET", "/plaintext")
    first = conn.getresponse()
    check(first.status == 200 and first.read() == b"Hello, World!", "GET /plaintext")
    sock = conn.sock
    for i in range(50):
        conn.request("GET", "/json")
        r = conn.getresponse()
        check(r.status == 200, f"GET /json #{i}")
        check(r.getheader("Content-Type") == "application/json", "json content type")
        check(json.loads(r.read()) == {"message": "Hello, World!"}, "json body")
        check(not r.will_close, "keep-alive")
        check(conn.sock is sock, "the same connection is reused")
    conn.request("GET", "/nope")
    r = conn.getresponse()
    check(r.status == 404 and r.read() == b"Not Found", "404")
    conn.request("HEAD", "/plaintext")
    r = conn.getresponse()
    check(r.status == 200 and r.getheader("Content-Length") == "13", "HEAD")
    check(r.read() == b"", "HEAD has no body")
    conn.request("GET", "/plaintext")
    check(conn.getresponse().read() == b"Hello, World!", "after HEAD")
    conn.close()


def bodies():
    conn = connect()
    body = os.urandom(200_000)
    conn.request("POST", "/echo", body=body)
    r = conn.getresponse()
    check(r.status == 200 and r.read() == body, "Content-Length body echoed")

    chunks = [os.urandom(n) for n in (1, 1000, 70_000, 3)]
    conn.request("POST", "/echo", body=iter(chunks), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    check(r.status == 200 and r.read() == b"".join(chunks), "chunked body echoed")

    # http.client sends the body right after the head without waiting; when
    # the body arrives separately the server sends 100 Continue, which
    # getresponse() skips. Either way the final response is the echo.
    conn.request("PUT", "/echo", body=body, headers={"Expect": "100-continue"})
    r = conn.getresponse()
    check(r.status == 200 and r.read() == body, "Expect: 100-continue")
    conn.close()

    conn = connect()
    try:
        conn.request("POST", "/echo", body=b"x" * (1024 * 1024 + 1))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and stop reading before all is sent
    r = conn.getresponse()
    check(r.status == 413 and r.will_close, "413 and close for a body over 1 MiB")
    conn.close()


class Http10Connection(http.client.HTTPConnection):
    _http_vsn = 10
    _http_vsn_str = "HTTP/1.0"


def connection_close():
    conn = Http10Connection(HOST, PORT, timeout=TIMEOUT)
    conn.request("GET", "/plaintext")
    r = conn.getresponse()
    check(r.version == 11 and r.status == 200, "HTTP/1.0 request answered")
    check(r.getheader("Connection") == "close" and r.will_close, "HTTP/1.0 closes")
    check(r.read() == b"Hello, World!", "HTTP/1.0 body")
    conn.close()

    conn = connect()
    conn.request("GET", "/plaintext", headers={"Connection": "close"})
    r = conn.getresponse()
    check(r.will_close and r.read() == b"Hello, World!", "Connection: close")
    check(conn.sock is None, "http.client closed its side")
    conn.close()


keep_alive()
bodies()
connection_close()
print(f"{checks} passed, 0 failed")
