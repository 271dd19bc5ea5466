"""The plugin daemon's protocol as the devkit speaks it: request frames in, response frames out.

One place for what the stdio driver (``plugin_runner``), the serverless driver
(``serverless_runner``) and the benchmark (``bench/plugin``) all need: the request frame the daemon
writes (../shared/research/dify_plugin_sdk.md §7, "Daemon stdin"), the ``data`` of a tool invocation
and of a credential validation, a parsed response ``Frame``, and a reader that keeps the tail of a
process's stderr.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from typing import IO, Any

PROVIDER = "sse_request"
USER_ID = "test-user"
MAX_LINE = 5 * 1024 * 1024  # the daemon kills a plugin for a longer stdout line
STDERR_TAIL = 20_000  # bytes of stderr kept for error messages


@dataclass
class Frame:
    """One stdout line of the plugin (or one line of a serverless reply), stamped with the
    ``time.monotonic()`` at which it arrived."""

    at: float
    raw: bytes
    obj: dict[str, Any]

    @property
    def event(self) -> str | None:
        return self.obj.get("event")

    @property
    def session(self) -> str | None:
        return self.obj.get("session_id")

    @property
    def kind(self) -> str | None:
        """stream / error / end for session frames."""
        data = self.obj.get("data") or {}
        return data.get("type") if isinstance(data, dict) else None

    @property
    def message(self) -> dict[str, Any]:
        """The tool message of a stream frame: {"type", "message", "meta"}."""
        return (self.obj.get("data") or {}).get("data") or {}


def request_frame(data: dict[str, Any], session_id: str | None = None) -> dict[str, Any]:
    """The JSON object the daemon writes for one request (one stdin line, or a serverless body)."""
    return {"session_id": session_id or str(uuid.uuid4()), "conversation_id": None, "message_id": None,
            "app_id": None, "endpoint_id": None, "context": {}, "event": "request", "data": data}


def invoke_data(tool: str, params: dict[str, Any], credentials: dict[str, Any] | None = None,
                provider: str = PROVIDER) -> dict[str, Any]:
    """``data`` of an ``invoke_tool`` request."""
    return {"user_id": USER_ID, "type": "tool", "action": "invoke_tool", "provider": provider, "tool": tool,
            "tool_parameters": params, "credentials": credentials or {}, "credential_type": "api-key"}


def validate_data(credentials: dict[str, Any], provider: str = PROVIDER) -> dict[str, Any]:
    """``data`` of a ``validate_tool_credentials`` request."""
    return {"user_id": USER_ID, "type": "tool", "action": "validate_tool_credentials", "provider": provider,
            "credentials": credentials}


def encode(frame: dict[str, Any]) -> bytes:
    """One request frame as the daemon writes it to a local plugin's stdin: a JSON line."""
    return json.dumps(frame).encode() + b"\n"


class StderrTail:
    """Reads a process's stderr in a daemon thread and keeps its last ``STDERR_TAIL`` bytes
    (the daemon likewise only logs stderr and keeps its end for error messages)."""

    def __init__(self, stream: IO[bytes] | None) -> None:
        self.data = b""
        if stream is not None:
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.data = (self.data + raw)[-STDERR_TAIL:]
