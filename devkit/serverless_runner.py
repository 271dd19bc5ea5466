"""Runs the plugin in the SDK's serverless mode and calls it over HTTP, as Dify's serverless runtime does.

``python -m main`` in the plugin folder with ``INSTALL_METHOD=serverless``: the SDK serves
``GET /health`` and ``POST /invoke`` (gevent WSGI). The body of an invoke is one request frame,
the same JSON object the daemon writes to a local plugin's stdin; the reply streams the session's
frames, one JSON object per line (blank lines between them), and ends after the ``end`` frame.

Each frame is returned as it arrives, stamped with ``time.monotonic()``, so callers can check
timing against a local server in the same process. The SDK also prints a few plain-text lines
("* Serving Flask app ...") and log frames on the process's stdout: they are kept in
``stdout_lines`` and are not part of any reply.

    with ServerlessPlugin(python=".venv/bin/python") as plugin:
        plugin.wait_ready()
        frames = plugin.invoke("sse_request", {"url": "http://127.0.0.1:8000/stream"})
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from devkit.plugin_runner import error_of, stop, summary_of, texts
from devkit.protocol import PROVIDER, Frame, StderrTail, invoke_data, request_frame, validate_data

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ServerlessPlugin", "Frame", "error_of", "free_port", "summary_of", "texts"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerlessPlugin:
    def __init__(self, plugin_dir: Path = ROOT, python: str = sys.executable, env: dict[str, str] | None = None,
                 host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {}),
                    "INSTALL_METHOD": "serverless", "SERVERLESS_HOST": host, "SERVERLESS_PORT": str(self.port)}
        for key in ("REMOTE_INSTALL_URL", "REMOTE_INSTALL_KEY"):
            full_env.pop(key, None)
        self.proc = subprocess.Popen(
            [python, "-m", "main"], cwd=plugin_dir, env=full_env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.stdout_lines: list[bytes] = []  # the process's own output: SDK banner and log frames
        self._stderr = StderrTail(self.proc.stderr)
        # One connection per call at most; 100 lets many calls run at once without queueing here.
        self.client = httpx.Client(base_url=self.url, trust_env=False,
                                   limits=httpx.Limits(max_connections=100, max_keepalive_connections=100))
        threading.Thread(target=self._read_stdout, daemon=True).start()

    @property
    def stderr(self) -> bytes:
        """The last bytes the plugin wrote to stderr."""
        return self._stderr.data

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            if raw.strip():
                self.stdout_lines.append(raw.rstrip(b"\r\n")[:2000])

    def wait_ready(self, timeout: float = 60) -> None:
        """Polls ``GET /health`` until it answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"plugin exited with {self.proc.returncode}; stderr: {self.stderr[-2000:]!r}")
            try:
                if self.client.get("/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"plugin not healthy in {timeout} s; stderr: {self.stderr[-2000:]!r}")

    # -- calls ---------------------------------------------------------------------------------
    def stream(self, data: dict[str, Any], timeout: float = 30, session_id: str | None = None) -> Iterator[Frame]:
        """POSTs one request frame and yields the reply's frames as they arrive, up to the end frame.

        ``timeout`` bounds the wait for each line (httpx's read timeout), not the whole call."""
        frame = request_frame(data, session_id)
        with self.client.stream("POST", "/invoke", json=frame, timeout=httpx.Timeout(10, read=timeout)) as response:
            if response.status_code != 200:
                raise RuntimeError(f"/invoke answered HTTP {response.status_code}: {response.read()[:500]!r}")
            for line in response.iter_lines():
                at = time.monotonic()
                raw = line.strip().encode()
                if not raw:
                    continue
                reply = Frame(at, raw, json.loads(raw))
                yield reply
                if reply.kind == "end":
                    return

    def invoke_stream(self, tool: str, params: dict[str, Any], credentials: dict[str, Any] | None = None,
                      provider: str = PROVIDER, timeout: float = 30) -> Iterator[Frame]:
        return self.stream(invoke_data(tool, params, credentials, provider), timeout)

    def invoke(self, tool: str, params: dict[str, Any], credentials: dict[str, Any] | None = None,
               provider: str = PROVIDER, timeout: float = 30) -> list[Frame]:
        return list(self.invoke_stream(tool, params, credentials, provider, timeout))

    def validate(self, credentials: dict[str, Any], provider: str = PROVIDER, timeout: float = 30) -> list[Frame]:
        return list(self.stream(validate_data(credentials, provider), timeout))

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        self.client.close()
        stop(self.proc)

    def __enter__(self) -> ServerlessPlugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
