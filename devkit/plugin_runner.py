"""Runs the plugin the way Dify's plugin daemon does and speaks its protocol.

``python -m main`` in the plugin folder with ``INSTALL_METHOD=local``; requests are JSON lines on
stdin, and stdout carries one JSON object per line (the manifest, logs, heartbeats, session
frames). Every stdout line is kept with the time it arrived, so callers can check timing.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from devkit.protocol import (
    MAX_LINE,
    PROVIDER,
    Frame,
    StderrTail,
    encode,
    invoke_data,
    request_frame,
    validate_data,
)

__all__ = ["MAX_LINE", "Frame", "PluginProcess", "error_of", "stop", "summary_of", "texts"]

ROOT = Path(__file__).resolve().parent.parent


class PluginProcess:
    def __init__(self, plugin_dir: Path = ROOT, python: str = sys.executable, env: dict[str, str] | None = None
                 ) -> None:
        full_env = {**os.environ, "INSTALL_METHOD": "local", "PYTHONUNBUFFERED": "1", **(env or {})}
        for key in ("REMOTE_INSTALL_URL", "REMOTE_INSTALL_KEY"):
            full_env.pop(key, None)
        self.proc = subprocess.Popen(
            [python, "-m", "main"], cwd=plugin_dir, env=full_env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.frames: list[Frame] = []  # every line, in order
        self.bad_lines: list[bytes] = []  # lines that are not JSON or too long
        self._sessions: dict[str, queue.Queue[Frame]] = {}
        self._heartbeat = threading.Event()
        self._lock = threading.Lock()
        self._stderr = StderrTail(self.proc.stderr)
        threading.Thread(target=self._read_stdout, daemon=True).start()

    @property
    def stderr(self) -> bytes:
        """The last bytes the plugin wrote to stderr."""
        return self._stderr.data

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            at = time.monotonic()
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                self.bad_lines.append(line[:500])
                continue
            if len(line) > MAX_LINE:
                self.bad_lines.append(line[:500])
            frame = Frame(at, line, obj)
            with self._lock:
                self.frames.append(frame)
                target = self._sessions.get(frame.session or "")
            if frame.event == "heartbeat":
                self._heartbeat.set()
            if target is not None:
                target.put(frame)

    def wait_ready(self, timeout: float = 60) -> None:
        if not self._heartbeat.wait(timeout):
            raise RuntimeError(f"plugin sent no heartbeat in {timeout} s; stderr: {self.stderr[-2000:]!r}")

    def heartbeats(self) -> list[float]:
        with self._lock:
            return [f.at for f in self.frames if f.event == "heartbeat"]

    def request(self, data: dict[str, Any]) -> str:
        frame = request_frame(data)
        session_id = frame["session_id"]
        with self._lock:
            self._sessions[session_id] = queue.Queue()
        assert self.proc.stdin is not None
        self.proc.stdin.write(encode(frame))
        self.proc.stdin.flush()
        return session_id

    def invoke(self, tool: str, params: dict[str, Any], credentials: dict[str, Any] | None = None,
               provider: str = PROVIDER) -> str:
        return self.request(invoke_data(tool, params, credentials, provider))

    def validate(self, credentials: dict[str, Any], provider: str = PROVIDER) -> str:
        return self.request(validate_data(credentials, provider))

    def frames_of(self, session_id: str, timeout: float = 30) -> Iterator[Frame]:
        """The session's frames as they arrive, up to and including its end frame."""
        q = self._sessions[session_id]
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"session {session_id} did not end in {timeout} s")
            try:
                frame = q.get(timeout=remaining)
            except queue.Empty:
                continue
            yield frame
            if frame.kind == "end":
                return

    def collect(self, session_id: str, timeout: float = 30) -> list[Frame]:
        return list(self.frames_of(session_id, timeout))

    def close(self) -> None:
        stop(self.proc)

    def __enter__(self) -> PluginProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop(proc: subprocess.Popen) -> None:
    """Terminates a plugin process, killing it when it does not end within 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def texts(frames: list[Frame]) -> list[str]:
    return [f.message["message"]["text"] for f in frames if f.kind == "stream" and f.message.get("type") == "text"]


def summary_of(frames: list[Frame]) -> dict[str, Any] | None:
    jsons = [f.message["message"]["json_object"] for f in frames
             if f.kind == "stream" and f.message.get("type") == "json"]
    return jsons[-1] if jsons else None


def error_of(frames: list[Frame]) -> dict[str, Any] | None:
    errors = [f.obj["data"]["data"] for f in frames if f.kind == "error"]
    return errors[-1] if errors else None


def tool_outputs(frames: list[Frame]) -> dict[str, Any]:
    """The tool's variables as Dify's tool node builds its outputs (graphon ``ToolNode
    ._transform_message``): a stream variable is the concatenation of its chunks, a non-stream
    one is set (the last one wins, replacing what streamed)."""
    outputs: dict[str, Any] = {}
    for f in frames:
        if f.kind == "stream" and f.message.get("type") == "variable":
            message = f.message["message"]
            name, value = message["variable_name"], message["variable_value"]
            if message.get("stream"):
                outputs[name] = outputs.get(name, "") + value
            else:
                outputs[name] = value
    return outputs


class VariableMessage(BaseModel):
    """Dify's ``ToolInvokeMessage.VariableMessage`` (api/core/tools/entities/tool_entities.py), whose
    ``str()`` (pydantic's) is what the agent reads of a variable. Defined here: importing
    ``dify_plugin`` would monkey-patch the test process with gevent."""

    variable_name: str
    variable_value: Any
    stream: bool = False


def agent_observation(frames: list[Frame]) -> str:
    """The observation Dify's agent makes of a tool call from these frames, computed as
    ``ToolEngine._convert_tool_response_to_str`` does (langgenius/dify api/core/tools/tool_engine.py
    @50fa1446): text as is, JSON via ``json.dumps(..., ensure_ascii=False)`` appended after the rest
    unless already there, ``str()`` of every other message (a variable: its pydantic repr); a call
    that raised gives ``tool invoke error: <message>`` (``agent_invoke``)."""
    error = error_of(frames)
    if error is not None:
        return f"tool invoke error: {error['message']}"
    parts: list[str] = []
    json_parts: list[str] = []
    for f in frames:
        if f.kind != "stream":
            continue
        kind, message = f.message.get("type"), f.message.get("message") or {}
        if kind == "text":
            parts.append(message["text"])
        elif kind == "json":
            json_parts.append(json.dumps(message["json_object"], ensure_ascii=False))
        elif kind == "variable":
            parts.append(str(VariableMessage(**message)))
        else:
            parts.append(str(message))
    existing = set(parts)
    parts.extend(p for p in json_parts if p not in existing)
    return "".join(parts)
