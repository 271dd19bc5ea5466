"""A real HTTP/1.1 server on 127.0.0.1 whose routes write the response chunk by chunk.

Each route is a function ``(request, writer)``. ``writer.send(...)`` puts one HTTP chunk on the
wire at once (so a test decides exactly where a CRLF or a UTF-8 sequence is split),
``writer.abort()`` drops the connection mid-stream, and every request is recorded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = field(default_factory=time.monotonic)


class Writer:
    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._h = handler
        self.started = False
        self.sent_at: list[float] = []

    def start(self, status: int = 200, headers: dict[str, str] | None = None,
              content_type: str | None = "text/event-stream; charset=utf-8", chunked: bool = True,
              reason: str | None = None) -> None:
        """The status line (``reason``: the phrase, the standard one when None) and the headers."""
        h = self._h
        h.send_response_only(status, reason)
        if content_type:
            h.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()
        self.chunked = chunked
        self.started = True

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not self.started:
            self.start()
        if not data:
            return
        wire = b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data
        self._h.wfile.write(wire)
        self._h.wfile.flush()
        self.sent_at.append(time.monotonic())

    def send_pieces(self, data: bytes, pieces: int) -> None:
        """``data`` as ``pieces`` chunks of about equal size, wherever the cuts fall."""
        step = max(1, len(data) // pieces)
        for start in range(0, len(data), step):
            self.send(data[start : start + step])

    def body(self, status: int, data: bytes | str, content_type: str | None = "application/json",
             headers: dict[str, str] | None = None, reason: str | None = None) -> None:
        """A whole non-streaming response."""
        raw = data.encode() if isinstance(data, str) else data
        self.start(status, {**(headers or {}), "Content-Length": str(len(raw))}, content_type, chunked=False,
                   reason=reason)
        self._h.wfile.write(raw)
        self._h.wfile.flush()

    def end(self) -> None:
        if self.started and self.chunked:
            self._h.wfile.write(b"0\r\n\r\n")
            self._h.wfile.flush()
        self._h.close_connection = True

    def abort(self) -> None:
        """Drop the connection without ending the body: the client sees a broken stream."""
        self._h.close_connection = True
        try:
            self._h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


Route = Callable[[Request, Writer], None]


def script(*steps: bytes | str | float) -> Route:
    """A route that sends each bytes/str step as one chunk and sleeps on each float step."""

    def route(request: Request, writer: Writer) -> None:
        writer.start()
        for step in steps:
            if isinstance(step, (int, float)):
                time.sleep(step)
            else:
                writer.send(step)
        writer.end()

    return route


class SSEServer:
    def __init__(self, host: str = "127.0.0.1", tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate file, key file) to serve https instead of http."""
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                server.requests.append(request)
                route = server.routes.get(parts.path)
                writer = Writer(self)
                if route is None:
                    writer.body(404, '{"error": "no such route"}')
                    return
                try:
                    route(request, writer)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def route(self, path: str, fn: Route | None = None, *steps: bytes | str | float) -> None:
        self.routes[path] = fn if fn is not None else script(*steps)

    def __enter__(self) -> SSEServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sse(events: Iterable[str]) -> list[str]:
    """``data: <line>`` events, one chunk each."""
    return [f"data: {e}\n\n" for e in events]
