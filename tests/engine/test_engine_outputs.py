"""The tool node's outputs as Dify's engine stores them, and nodes after the tool reading them:
Start → dify_app → Answer / Template / If-Else / End, against a local look-alike of Dify's API."""

from __future__ import annotations

from typing import Any

import pytest
from graphon.graph_events.node import NodeRunStreamChunkEvent, NodeRunSucceededEvent

from devkit.dify_engine import run_graph
from tests.engine.support import chatflow, edge, start, tool_node
from tests.test_dify_app import KEY, fake_dify

NOTE = "\n(The app reported an error.)"
CHAT_ANSWER = "Hi there! The iPhone 13 Pro Max has a 6.7-inch display."  # tests/transcripts/dify_chat.sse


def dify_app(server, transcript: str = "dify_chat.sse", **settings: Any) -> dict[str, Any]:
    server.route("/v1/chat-messages", fake_dify("chat", transcript))
    return tool_node("dify_app", parameters={"query": "{{#sys.query#}}"},
                     settings={"base_url": server.url + "/v1", "api_key": KEY, "app_type": "chat", **settings})


def if_success(then: str, otherwise: str) -> list[dict[str, Any]]:
    """An If-Else on ``{{#tool.success#}}`` and one Answer node per branch."""
    return [
        {"id": "check", "data": {"type": "if-else", "title": "Succeeded?", "cases": [{
            "case_id": "true", "logical_operator": "and", "conditions": [{
                "id": "c1", "varType": "boolean", "variable_selector": ["tool", "success"],
                "comparison_operator": "is", "value": "true"}]}]}},
        {"id": "ok", "data": {"type": "answer", "title": "OK", "answer": then}},
        {"id": "not_ok", "data": {"type": "answer", "title": "Not OK", "answer": otherwise}},
    ]


def test_dify_app_streams_the_called_apps_answer_into_an_answer_node(runtime, server):
    run = run_graph(chatflow(dify_app(server)), runtime, query="Specs of the iPhone 13 Pro Max?")
    assert run.succeeded and run.streamed == CHAT_ANSWER
    assert len(run.chunks(["tool", "text"])) > 1  # in pieces as they came, not one block at the end
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(run.events)


def test_tool_outputs_hold_the_summary_variables(runtime, server):
    run = run_graph(chatflow(dify_app(server)), runtime, query="q")
    outputs = run.outputs("tool")
    summary = outputs["json"][-1]
    assert outputs["text"] == outputs["answer"] == summary["answer"] == CHAT_ANSWER
    assert outputs["success"] is True and outputs["status"] == summary["status"]
    assert outputs["usage"]["total_tokens"] == 1168 and outputs["format"] == "dify"
    assert outputs["result"]["conversation_id"] == summary["result"]["conversation_id"]
    assert not {"files", "json", "text"} & set(summary)  # no variable replaces a built-in output


def test_nodes_after_the_tool_read_its_variables(runtime, server):
    """A Template node renders answer, usage and success; an End node passes them on, a nested
    selector (``tool.result.conversation_id``) included."""
    template = {"id": "template", "data": {
        "type": "template-transform", "title": "Template",
        "template": "{{ answer }} [{{ tokens }} tokens, success={{ ok }}]",
        "variables": [{"variable": "answer", "value_selector": ["tool", "answer"]},
                      {"variable": "tokens", "value_selector": ["tool", "usage", "total_tokens"]},
                      {"variable": "ok", "value_selector": ["tool", "success"]}]}}
    end = {"id": "end", "data": {"type": "end", "title": "End", "outputs": [
        {"variable": "line", "value_selector": ["template", "output"]},
        {"variable": "conversation", "value_selector": ["tool", "result", "conversation_id"]},
        {"variable": "status", "value_selector": ["tool", "status"]}]}}
    graph = {"nodes": [start(), {"id": "tool", "data": dify_app(server)}, template, end],
             "edges": [edge("start", "tool"), edge("tool", "template"), edge("template", "end")]}
    run = run_graph(graph, runtime, query="q")
    assert run.succeeded
    assert run.graph_outputs == {"line": f"{CHAT_ANSWER} [1168 tokens, success=True]",
                                 "conversation": "c216d7a4-5a1e-4a2a-b4a4-1d2d8a6c5e10", "status": "completed"}


@pytest.mark.parametrize(("transcript", "note"), [("dify_chat.sse", ""), ("dify_chat_error.sse", NOTE)])
def test_fail_on_stream_error_off_lets_an_if_else_after_the_answer_add_a_note(runtime, server, transcript, note):
    """With ``fail_on_stream_error`` off a stream that reports an error ends the node normally with
    ``success`` false. Start → tool → Answer(text) → If-Else(success) → Answer(note): the text
    streams live (the If-Else comes after the first Answer) and the note follows on failure."""
    graph = chatflow(dify_app(server, transcript, fail_on_stream_error=False), "{{#tool.text#}}",
                     extra_nodes=if_success("", NOTE),
                     extra_edges=[edge("answer", "check"), edge("check", "ok", "true"),
                                  edge("check", "not_ok", "false")])
    run = run_graph(graph, runtime, query="q")
    assert run.succeeded
    text = run.outputs("tool")["text"]
    assert text and run.streamed == text + note
    assert run.outputs("tool")["success"] is (note == "")
    tool_done = next(i for i, (_, e) in enumerate(run.events) if isinstance(e, NodeRunSucceededEvent)
                     and e.node_id == "tool")
    first_chunk = next(i for i, (_, e) in enumerate(run.events) if isinstance(e, NodeRunStreamChunkEvent) and e.chunk)
    assert first_chunk < tool_done  # forwarded while the tool ran, not after
