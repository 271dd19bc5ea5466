"""A TCP server on 127.0.0.1 whose handler writes whatever bytes a test wants, when it wants:
headers a byte a second, a TLS port that never answers the handshake, a body cut anywhere.

``RawServer(handler)`` calls ``handler(conn, head, stop)`` per connection, where ``head`` is the
request's bytes up to the blank line (empty for ``read_request=False``) and ``stop`` an event set
when the server closes; handlers must return once it is set (every loop here is bounded).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

Handler = Callable[[socket.socket, bytes, threading.Event], None]


def read_head(conn: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        part = conn.recv(4096)
        if not part:
            break
        head += part
    return head


def trickle(conn: socket.socket, data: bytes, interval: float, stop: threading.Event) -> None:
    """``data`` one byte every ``interval`` s until sent or the server stops."""
    for i in range(len(data)):
        if stop.wait(interval):
            return
        conn.sendall(data[i : i + 1])


class RawServer:
    def __init__(self, handler: Handler, read_request: bool = True) -> None:
        self._handler = handler
        self._read_request = read_request
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self._conns: list[socket.socket] = []

    def _serve(self, conn: socket.socket) -> None:
        try:
            head = read_head(conn) if self._read_request else b""
            self.requests.append(head)
            self._handler(conn, head, self.stop)
        except OSError:
            pass

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def __enter__(self) -> RawServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.listener.close()
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass
