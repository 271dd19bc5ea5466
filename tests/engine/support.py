"""Graphs and local endpoints shared by the engine tests.

Graphs are Dify graph configs (``nodes``: ``{id, data}``, ``edges``) with node data as a Dify DSL
export writes it; endpoints are routes for ``devkit.sse_server.SSEServer``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graphon.graph_events.node import NodeRunStreamChunkEvent

from devkit.dify_engine import EngineRun, stream_graph
from devkit.sse_server import Request, Writer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PROVIDER_ID = "ssekit/sse_request/sse_request"  # plugin_id/provider: what Dify stores as provider_id
GATE_SECONDS = 8  # how long a gated route waits for the test before sending on anyway
OPENAI_KEY = "sk-engine-test-4f9c2a7b1d8e"


def tool_node(tool: str = "sse_request", parameters: dict[str, Any] | None = None,
              settings: dict[str, Any] | None = None, **node: Any) -> dict[str, Any]:
    """A Tool node's data: ``parameters`` (form ``llm``) as ``mixed`` templates when they are
    strings, else constants; ``settings`` (form ``form``) as constants; ``node``: error_strategy,
    default_value, retry_config..."""
    def given(value: Any) -> dict[str, Any]:
        return {"type": "mixed" if isinstance(value, str) else "constant", "value": value}

    return {"type": "tool", "title": tool, "provider_id": PROVIDER_ID, "provider_name": PROVIDER_ID,
            "provider_type": "builtin", "tool_name": tool, "tool_label": tool, "tool_node_version": "2",
            "tool_parameters": {k: given(v) for k, v in (parameters or {}).items()},
            "tool_configurations": {k: {"type": "constant", "value": v} for k, v in (settings or {}).items()},
            **node}


def start(variables: Sequence[str] = ()) -> dict[str, Any]:
    return {"id": "start", "data": {"type": "start", "title": "Start", "variables": [
        {"variable": name, "label": name, "type": "text-input", "required": False} for name in variables]}}


def chatflow(tool: dict[str, Any], answer: str = "{{#tool.text#}}", *, extra_nodes: Sequence[dict] = (),
             extra_edges: Sequence[dict] = ()) -> dict[str, Any]:
    """Start → tool → Answer (``answer`` is the Answer node's template)."""
    return {"nodes": [start(), {"id": "tool", "data": tool},
                      {"id": "answer", "data": {"type": "answer", "title": "Answer", "answer": answer}},
                      *extra_nodes],
            "edges": [edge("start", "tool"), edge("tool", "answer"), *extra_edges]}


def workflow(tool: dict[str, Any], outputs: dict[str, list[str]] | None = None,
             start_variables: Sequence[str] = ()) -> dict[str, Any]:
    """Start → tool → End; ``outputs``: End variable → selector (default ``text`` ← tool.text)."""
    outputs = outputs or {"text": ["tool", "text"]}
    return {"nodes": [start(start_variables), {"id": "tool", "data": tool},
                      {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
                          {"variable": name, "value_selector": selector} for name, selector in outputs.items()]}}],
            "edges": [edge("start", "tool"), edge("tool", "end")]}


def edge(source: str, target: str, handle: str = "source") -> dict[str, Any]:
    return {"source": source, "target": target, "sourceHandle": handle}


# -- endpoints -------------------------------------------------------------------------------
def chat_chunk(content: str | None = None, finish: str | None = None) -> str:
    """One Chat Completions stream event (OpenAI's ``chat.completion.chunk``)."""
    delta = {"content": content} if content is not None else {}
    return "data: " + json.dumps({"id": "chatcmpl-engine", "object": "chat.completion.chunk", "created": 1730000000,
                                  "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": delta,
                                                                       "finish_reason": finish}]}) + "\n\n"


def chat_error(message: str = "The server had an error while processing your request.") -> str:
    return "data: " + json.dumps({"error": {"message": message, "type": "server_error", "code": "server_error"}}) + "\n\n"


class ChatCompletions:
    """A local OpenAI-compatible ``/chat/completions`` route: 401 without the right key, 400 for a
    body that is not a streaming chat request, else ``words`` as content deltas, ``finish_reason:
    stop`` and ``[DONE]``. ``gate``: the second delta waits for it. ``fail``: the first
    ``fail_times`` requests break after the first delta: ``"error"`` (an in-stream error event) or
    ``"drop"`` (connection dropped). ``sent_at``: when each delta went on the wire; ``bodies``:
    the JSON body of each accepted request."""

    def __init__(self, words: Sequence[str], *, gate: threading.Event | None = None, fail: str | None = None,
                 fail_times: int = 1) -> None:
        self.words, self.gate, self.fail, self.fail_times = list(words), gate, fail, fail_times
        self.sent_at: list[float] = []
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: Request, writer: Writer) -> None:
        if request.headers.get("authorization") != f"Bearer {OPENAI_KEY}":
            return writer.body(401, json.dumps({"error": {"message": "Incorrect API key provided.",
                                                          "type": "invalid_request_error", "code": "invalid_api_key"}}))
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("stream") is not True or not body.get("messages"):
            return writer.body(400, json.dumps({"error": {"message": "expected a streaming chat request"}}))
        self.bodies.append(body)
        failing = self.fail is not None and len(self.bodies) <= self.fail_times
        writer.start()
        for n, word in enumerate(self.words):
            if n == 1 and self.gate is not None:
                self.gate.wait(GATE_SECONDS)  # held until the test has seen the first chunk leave the engine (or gives up)
            writer.send(chat_chunk(word))
            self.sent_at.append(time.monotonic())
            if n == 0 and failing:
                if self.fail == "drop":
                    return writer.abort()
                writer.send(chat_error())
                return writer.end()
        writer.send(chat_chunk(finish="stop"))
        writer.send("data: [DONE]\n\n")
        writer.end()


def chat_parameters(url: str, query: str = "Hi") -> dict[str, Any]:
    """sse_request parameters for a Chat Completions call."""
    return {"url": url, "method": "POST", "headers": f"Authorization: Bearer {OPENAI_KEY}",
            "body": json.dumps({"model": "gpt-4o-mini", "stream": True,
                                "messages": [{"role": "user", "content": query}]})}


def gated_run(graph: dict[str, Any], runtime, route: ChatCompletions, selector: Sequence[str],
              **kwargs: Any) -> tuple[bool, EngineRun]:
    """Runs the graph (``stream_graph`` keywords) against a gated ``route``; at the first non-empty
    chunk on ``selector`` notes whether the server had sent only its first delta (the chunk is
    live), then opens the gate. A chunk that is not live cannot pass: the gate gives up after
    ``GATE_SECONDS`` and the chunk then comes after the second delta."""
    events = []
    live = None
    for at, event in stream_graph(graph, runtime, **kwargs):
        events.append((at, event))
        if live is None and isinstance(event, NodeRunStreamChunkEvent) and event.chunk \
                and list(event.selector) == list(selector):
            live = not route.gate.is_set() and len(route.sent_at) == 1
            route.gate.set()
    route.gate.set()
    return bool(live), EngineRun(events)
