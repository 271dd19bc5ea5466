"""What a Dify user sees stream: the plugin's output through Dify's workflow engine (graphon's
GraphEngine) into an Answer node (chatflow) and an End node (workflow).

Liveness is checked with a gated server (``support.gated_run``): it holds its second delta until
the test has seen the first chunk leave the engine, so a chunk that is not live cannot pass."""

from __future__ import annotations

import threading
from typing import Any

from devkit.dify_engine import EngineRun, stream_graph
from tests.engine.support import (
    OPENAI_KEY,
    PROVIDER_ID,
    ChatCompletions,
    chat_parameters,
    chatflow,
    edge,
    gated_run,
    tool_node,
    workflow,
)

WORDS = ["Hello from", " the SSE", " stream."]
TEXT = "".join(WORDS)


def chat_tool(server, route: ChatCompletions, **settings: Any) -> dict[str, Any]:
    server.route("/v1/chat/completions", route)
    return tool_node(parameters=chat_parameters(server.url + "/v1/chat/completions"),
                     settings={"stream_format": "openai", **settings})


def test_text_streams_live_through_an_answer_node(runtime, server):
    route = ChatCompletions(WORDS, gate=threading.Event())
    live, run = gated_run(chatflow(chat_tool(server, route)), runtime, route, ["tool", "text"], query="Hi")
    assert live, "the first chunk left the engine only after the server sent more"
    assert run.succeeded and run.streamed == TEXT
    assert run.outputs("answer")["answer"] == TEXT


def test_text_streams_live_through_an_end_node(runtime, server):
    route = ChatCompletions(WORDS, gate=threading.Event())
    live, run = gated_run(workflow(chat_tool(server, route)), runtime, route, ["tool", "text"])
    assert live
    assert run.succeeded and run.streamed == TEXT
    assert run.graph_outputs["text"] == TEXT


def test_answer_variable_streams_live_through_an_answer_node(runtime, server):
    route = ChatCompletions(WORDS, gate=threading.Event())
    live, run = gated_run(chatflow(chat_tool(server, route), "{{#tool.answer#}}"), runtime, route,
                          ["tool", "answer"], query="Hi")
    assert live, "{{#tool.answer#}} in an Answer node did not stream"
    assert run.streamed == TEXT  # once, not doubled
    assert run.outputs("tool")["answer"] == TEXT == run.outputs("answer")["answer"]


def test_answer_variable_streams_live_through_an_end_node(runtime, server):
    route = ChatCompletions(WORDS, gate=threading.Event())
    graph = workflow(chat_tool(server, route), {"answer": ["tool", "answer"]})
    live, run = gated_run(graph, runtime, route, ["tool", "answer"])
    assert live, "an End output from tool.answer did not stream"
    assert run.streamed == TEXT
    assert run.graph_outputs["answer"] == TEXT


def test_final_answer_equals_the_summary_answer_and_nothing_is_counted_twice(runtime, server):
    route = ChatCompletions(WORDS)
    run = EngineRun(list(stream_graph(chatflow(chat_tool(server, route), "{{#tool.text#}}|{{#tool.answer#}}"),
                                      runtime, query="Hi")))
    outputs = run.outputs("tool")
    summary = outputs["json"][-1]
    assert outputs["answer"] == summary["answer"] == TEXT
    assert outputs["text"] == TEXT  # the live text once: the answer stream does not add to it
    assert outputs["total_events"] == summary["total_events"] == len(WORDS) + 1  # the deltas and the finish
    assert run.outputs("answer")["answer"] == f"{TEXT}|{TEXT}"


def test_a_plugin_error_reads_as_dify_wraps_it(runtime, server):
    route = ChatCompletions(WORDS)
    tool = chat_tool(server, route)
    tool["tool_parameters"]["headers"]["value"] = "Authorization: Bearer sk-wrong-key-0000000"
    run = EngineRun(list(stream_graph(chatflow(tool), runtime, query="Hi")))
    assert run.failed is not None and not run.succeeded
    error = run.node_error("tool")
    # Dify's PluginInvokeError.to_user_friendly_error (api/core/plugin/impl/exc.py), provider_name as stored
    assert error.startswith(f"An error occurred in the {PROVIDER_ID}, please contact the author of {PROVIDER_ID} "
                            "for help, error type: HTTPStatusError, error details: ")
    details = error.split("error details: ", 1)[1]
    assert details.startswith("HTTP 401") and "Incorrect API key provided." in details  # our one line survives
    assert "\n" not in error and "sk-wrong-key-0000000" not in error and OPENAI_KEY not in error
    assert run.failed.error == error


def test_a_second_variable_in_one_answer_node_waits_for_the_first_to_end(runtime, server):
    """An Answer template streams in order: ``{{#tool.text#}}|{{#tool.answer#}}`` shows the text
    live, and the answer only once the text stream has ended (when the tool node finishes)."""
    route = ChatCompletions(WORDS, gate=threading.Event())
    live, run = gated_run(chatflow(chat_tool(server, route), "{{#tool.text#}}|{{#tool.answer#}}"), runtime, route,
                          ["tool", "text"], query="Hi")
    assert live  # the first variable streams live
    assert run.chunks(["tool", "answer"])[0][0] > route.sent_at[-1]  # the second waits for the end
    assert run.streamed == f"{TEXT}|{TEXT}"


def test_an_if_else_between_the_tool_and_the_answer_holds_the_text_back(runtime, server):
    """Start → tool → If-Else → Answer: the Answer waits for the branch decision, which comes when
    the tool ends, so the text arrives in one piece after the server's last write."""
    route = ChatCompletions(WORDS)
    check = {"id": "check", "data": {"type": "if-else", "title": "Succeeded?", "cases": [{
        "case_id": "true", "logical_operator": "and", "conditions": [{
            "id": "c1", "varType": "boolean", "variable_selector": ["tool", "success"],
            "comparison_operator": "is", "value": "true"}]}]}}
    graph = chatflow(chat_tool(server, route), extra_nodes=[check])
    graph["edges"] = [edge("start", "tool"), edge("tool", "check"), edge("check", "answer", "true")]
    run = EngineRun(list(stream_graph(graph, runtime, query="Hi")))
    assert run.succeeded and run.streamed == TEXT
    assert run.chunks(["tool", "text"])[0][0] > route.sent_at[-1]
