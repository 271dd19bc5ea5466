"""What each of Dify's error strategies on the tool node (none, retry, fail-branch, default value)
does to the text a chatflow user sees, on a 401 (nothing streamed yet) and on a failure after the
first delta (an in-stream error event, or the connection dropped), and whether the text is live.

Measured facts, not wishes: the README's "Using it in Dify" cites these tests."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from devkit.dify_engine import EngineRun, run_graph
from tests.engine.support import ChatCompletions, chat_parameters, chatflow, edge, gated_run, tool_node

WORDS = ["Hello from", " the SSE stream."]
TEXT = "".join(WORDS)
SORRY = "\n\n(The answer stopped: the service failed.)"
STRATEGIES: dict[str, dict[str, Any]] = {
    "none": {},
    "retry": {"retry_config": {"retry_enabled": True, "max_retries": 1, "retry_interval": 10}},
    "fail-branch": {"error_strategy": "fail-branch"},
    "default-value": {"error_strategy": "default-value",
                      "default_value": [{"key": "text", "type": "string", "value": SORRY}]},
}


def graph(server, strategy: str, route: ChatCompletions, key_ok: bool = True) -> dict[str, Any]:
    server.route("/v1/chat/completions", route)
    parameters = chat_parameters(server.url + "/v1/chat/completions")
    if not key_ok:
        parameters["headers"] = "Authorization: Bearer sk-wrong-key-0000000"
    tool = tool_node(parameters=parameters, settings={"stream_format": "openai"}, **STRATEGIES[strategy])
    if strategy != "fail-branch":
        return chatflow(tool)
    failed = {"id": "failed", "data": {"type": "answer", "title": "Failed", "answer": "Failed: {{#tool.error_type#}}"}}
    return chatflow(tool, extra_nodes=[failed], extra_edges=[edge("tool", "failed", "fail-branch")])


# -- on success: live or not -------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["none", "retry", "default-value"])
def test_text_stays_live_with_strategy(runtime, server, strategy):
    route = ChatCompletions(WORDS, gate=threading.Event())
    live, run = gated_run(graph(server, strategy, route), runtime, route, ["tool", "text"], query="Hi")
    assert live and run.succeeded and run.streamed == TEXT


def test_fail_branch_holds_the_text_until_the_call_ends_even_on_success(runtime, server):
    """A fail-branch node is a branch: the Answer after it waits for the branch decision, which
    comes when the tool node ends. The whole text then arrives at once."""
    route = ChatCompletions(WORDS)
    run = run_graph(graph(server, "fail-branch", route), runtime, query="Hi")
    assert run.succeeded and run.streamed == TEXT
    first_chunk_at = run.chunks(["tool", "text"])[0][0]
    assert first_chunk_at > route.sent_at[-1]  # not live: after the server's last delta


# -- on a 401: nothing was streamed -----------------------------------------------------
def run_failing(runtime, server, strategy: str, failure: str) -> tuple[EngineRun, ChatCompletions]:
    route = ChatCompletions(WORDS, fail=None if failure == "401" else failure)
    return run_graph(graph(server, strategy, route, key_ok=failure != "401"), runtime, query="Hi"), route


def test_401_with_no_strategy_fails_the_run_with_nothing_shown(runtime, server):
    run, _ = run_failing(runtime, server, "none", "401")
    assert run.failed is not None and run.streamed == ""
    assert "HTTP 401" in run.node_error("tool")


def test_401_with_retry_calls_again_then_fails_the_run(runtime, server):
    run, _ = run_failing(runtime, server, "retry", "401")
    assert run.retries("tool") == 1 and run.failed is not None and run.streamed == ""


def test_401_with_fail_branch_shows_only_the_fail_branch(runtime, server):
    run, _ = run_failing(runtime, server, "fail-branch", "401")
    assert run.failed is None and not run.succeeded  # partial success: the exception was handled
    assert run.streamed == "Failed: ToolRuntimeInvocationError"  # error_type names Dify's exception class
    assert "HTTP 401" in run.outputs("tool")["error_message"]


def test_401_with_default_value_shows_the_default(runtime, server):
    run, _ = run_failing(runtime, server, "default-value", "401")
    assert run.failed is None and run.streamed == SORRY
    outputs = run.outputs("tool")
    assert outputs["text"] == SORRY and "HTTP 401" in outputs["error_message"]
    assert outputs["error_type"] == "ToolRuntimeInvocationError"


# -- after the first delta: an error event, or a dropped connection ---------------------
FAILURES = ["error", "drop"]


@pytest.mark.parametrize("failure", FAILURES)
def test_mid_stream_failure_with_no_strategy_keeps_the_partial_text_and_fails(runtime, server, failure):
    run, _ = run_failing(runtime, server, "none", failure)
    assert run.streamed == WORDS[0] and run.failed is not None


@pytest.mark.parametrize("failure", FAILURES)
def test_mid_stream_failure_with_retry_repeats_the_partial_text(runtime, server, failure):
    run, route = run_failing(runtime, server, "retry", failure)
    assert len(route.bodies) == 2 and run.retries("tool") == 1 and run.failed is None
    assert run.streamed == WORDS[0] + TEXT  # the user sees "Hello fromHello from the SSE stream."
    assert run.outputs("tool")["text"] == TEXT  # the node's output is the retry's alone


@pytest.mark.parametrize("failure", FAILURES)
def test_mid_stream_failure_with_fail_branch_never_shows_the_partial_text(runtime, server, failure):
    run, _ = run_failing(runtime, server, "fail-branch", failure)
    assert run.failed is None and WORDS[0] not in run.streamed
    assert run.streamed.startswith("Failed: ")


@pytest.mark.parametrize("failure", FAILURES)
def test_mid_stream_failure_with_default_value_appends_the_default_to_the_partial_text(runtime, server, failure):
    run, _ = run_failing(runtime, server, "default-value", failure)
    assert run.failed is None and run.streamed == WORDS[0] + SORRY
    assert run.outputs("tool")["text"] == SORRY  # the output holds the default alone
    assert run.outputs("answer")["answer"] == SORRY
