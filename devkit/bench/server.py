"""A lean SSE server for the benchmark, run in its own process: ``python -m devkit.bench.server``.

It prints ``PORT <n>`` on stdout once it listens on 127.0.0.1, then serves until stdin closes.
One thread per connection, pre-built payloads, 256 KiB writes, bodies that end at close
(``Connection: close``, no chunking), so the server costs little next to the client it measures.

Routes (GET, query parameters):
- ``/bulk?n=&size=``: ``n`` events of ``size`` bytes each on the wire (``data: xxx...\\n\\n``);
- ``/volume?bytes=&size=``: events of ``size`` bytes up to ``bytes`` in all;
- ``/paced?n=&interval=``: one event every ``interval`` s whose data is the send time
  (``time.monotonic()``, one clock for every process on the machine), written alone;
- ``/timed?seconds=&interval=``: small events every ``interval`` s for ``seconds`` s.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from urllib.parse import parse_qsl, urlsplit

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Connection: close\r\n\r\n")
WRITE = 256 * 1024


def event(size: int, index: int = 0) -> bytes:
    """One ``data:`` event of exactly ``size`` bytes on the wire (at least 16)."""
    head = b"data: %d " % index
    return head + b"x" * max(1, size - len(head) - 2) + b"\n\n"


def send_events(conn: socket.socket, size: int, total_bytes: int) -> None:
    """Events of ``size`` bytes until ``total_bytes``; a pre-built block, sent in large writes."""
    one = event(size)
    per_block = max(1, WRITE // len(one))
    block = one * per_block
    sent = 0
    while sent + len(block) <= total_bytes:
        conn.sendall(block)
        sent += len(block)
    rest = (total_bytes - sent) // len(one)
    if rest:
        conn.sendall(one * rest)


def serve(conn: socket.socket) -> None:
    try:
        request = b""
        while b"\r\n\r\n" not in request:
            part = conn.recv(65536)
            if not part:
                return
            request += part
        target = request.split(b" ", 2)[1].decode()
        parts = urlsplit(target)
        q = dict(parse_qsl(parts.query))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(HEAD)
        if parts.path == "/bulk":
            size = int(q.get("size", 100))
            send_events(conn, size, int(q.get("n", 1000)) * len(event(size)))
        elif parts.path == "/volume":
            size = int(q.get("size", 1024))
            send_events(conn, size, int(q.get("bytes", 1 << 30)))
        elif parts.path in ("/paced", "/timed"):
            interval = float(q.get("interval", 0.05))
            n = int(q["n"]) if "n" in q else int(float(q.get("seconds", 2)) / interval)
            start = time.monotonic()
            for i in range(n):
                delay = start + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                conn.sendall(b"data: %r\n\n" % time.monotonic())
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        conn.close()


def main() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    print(f"PORT {listener.getsockname()[1]}", flush=True)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()  # the parent closes stdin (or dies): stop


if __name__ == "__main__":
    main()
