"""N concurrent clients of a TLS echo server (Python's ssl module, verifying
the server against a CA file): each sends its own SIZE pseudo-random bytes,
reads them back, compares them byte for byte, and ends with close_notify
(unwrap). Prints "N clients byte-exact" on success; exits 1 otherwise.

usage: echo_clients.py HOST PORT CAFILE N SIZE
"""
import random
import socket
import ssl
import sys
import threading

host, port, cafile, n, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ctx = ssl.create_default_context(cafile=cafile)
start = threading.Barrier(n)
failures = []


def client(i):
    try:
        data = random.Random(i).randbytes(size)
        with socket.create_connection((host, port), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                start.wait(timeout=30)
                s.sendall(data)
                back = bytearray()
                while len(back) < size:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    back += chunk
                if bytes(back) != data:
                    failures.append(f"client {i}: {len(back)} bytes back, first difference at "
                                    f"{next((k for k, (a, b) in enumerate(zip(back, data)) if a != b), min(len(back), size))}")
                s.unwrap()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures.append(f"client {i}: {e!r}")


threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failures:
    print("\n".join(failures[:10]))
    sys.exit(1)
print(f"{n} clients byte-exact")
