"""Issue 17, "reasoning as its own output", as a Dify user sees it: a DeepSeek-style stream
(``reasoning_content`` deltas, then ``content``) through Dify's engine into an Answer node.

What Dify's engine does with it (graphon): an Answer node streams its variables in template order,
and a tool's stream variable ends only when the tool node ends. So ``{{#tool.reasoning#}}`` streams
live with ``stream_reasoning`` on (and shows nothing with it off: a plain variable shows as empty
while streaming), and an ``{{#tool.answer#}}`` placed after it waits for the tool node's end."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from devkit.dify_engine import EngineRun, stream_graph
from devkit.sse_server import Request, Writer
from tests.engine.support import GATE_SECONDS, chatflow, gated_run, tool_node

THOUGHTS = ["9.11 vs 9.9:", " compare tenths,", " 1 < 9."]
WORDS = ["9.9", " is larger."]


def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    return "data: " + json.dumps({"id": "ds-1", "object": "chat.completion.chunk", "model": "deepseek-reasoner",
                                  "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"


class Reasoner:
    """DeepSeek's stream: reasoning deltas, then answer deltas; ``gate``: the second reasoning delta
    waits for it (see ``support.gated_run``); ``sent_at``: when each delta went on the wire."""

    def __init__(self, pause: float = 0.0) -> None:
        self.gate = threading.Event()
        self.pause = pause  # before the last answer delta: room for a live answer chunk to show
        self.sent_at: list[float] = []

    def __call__(self, request: Request, writer: Writer) -> None:
        writer.start()
        deltas = [{"reasoning_content": t, "content": None} for t in THOUGHTS] + [{"content": w} for w in WORDS]
        for n, delta in enumerate(deltas):
            if n == 1:
                self.gate.wait(GATE_SECONDS)
            if n == len(deltas) - 1:
                time.sleep(self.pause)
            writer.send(chunk(delta))
            self.sent_at.append(time.monotonic())
        writer.send(chunk({}, "stop"))
        writer.send("data: [DONE]\n\n")
        writer.end()


def reasoning_chatflow(server, route: Reasoner, answer: str, stream_reasoning: bool) -> dict[str, Any]:
    server.route("/v1/chat/completions", route)
    tool = tool_node(parameters={"url": server.url + "/v1/chat/completions"},
                     settings={"stream_reasoning": stream_reasoning})
    return chatflow(tool, answer)


def test_reasoning_streams_live_into_an_answer_node_with_stream_reasoning(runtime, server):
    route = Reasoner()
    live, run = gated_run(reasoning_chatflow(server, route, "{{#tool.reasoning#}}", True), runtime, route,
                          ["tool", "reasoning"], query="Which is larger?")
    assert live, "{{#tool.reasoning#}} did not stream live"
    assert run.succeeded and run.streamed == "".join(THOUGHTS)
    assert run.outputs("tool")["reasoning"] == "".join(THOUGHTS)
    assert run.outputs("tool")["answer"] == "".join(WORDS)  # never mixed


def test_without_stream_reasoning_the_answer_node_shows_no_reasoning_and_the_variable_holds_it(runtime, server):
    route = Reasoner()
    route.gate.set()
    graph = reasoning_chatflow(server, route, "{{#tool.reasoning#}}|{{#tool.answer#}}", False)
    run = EngineRun(list(stream_graph(graph, runtime, query="Which is larger?")))
    assert run.succeeded and run.streamed == "|" + "".join(WORDS)
    assert run.outputs("tool")["reasoning"] == "".join(THOUGHTS)  # for the nodes after the tool


def test_an_answer_after_the_reasoning_in_one_answer_node_waits_for_the_tool_node_to_end(runtime, server):
    """Dify's order, not ours: what the README tells a chatflow builder."""
    route = Reasoner(pause=1.0)
    graph = reasoning_chatflow(server, route, "{{#tool.reasoning#}}\n---\n{{#tool.answer#}}", True)
    live, run = gated_run(graph, runtime, route, ["tool", "reasoning"], query="Which is larger?")
    assert live and run.succeeded and run.streamed == "".join(THOUGHTS) + "\n---\n" + "".join(WORDS)
    # the first answer delta left the server a second before the last one: a live chunk would show it then
    assert run.chunks(["tool", "answer"])[0][0] > route.sent_at[-1]
