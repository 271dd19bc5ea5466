"""Issue 8, blocking fallback: ``response_mode: blocking`` sends one POST, reads Dify's single
JSON answer, and ends in the same summary shape as a streamed call of the same conversation.
Everything runs through the plugin runtime against a local server on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pytest

from devkit.plugin_runner import error_of, summary_of, texts
from devkit.sse_server import Request, Writer
from tests.format_support import BLOCKING_GAPS, differing
from tests.test_dify_app import KEY, PATHS, base_params, fake_dify, variables

CASES = [  # (app_type, streamed transcript, blocking answer of the same conversation)
    ("chat", "dify_chat.sse", "dify_chat_blocking.json"),
    ("chat", "dify_chatflow.sse", "dify_chatflow_blocking.json"),
    ("workflow", "dify_workflow.sse", "dify_workflow_blocking.json"),
    ("completion", "dify_completion.sse", "dify_completion_blocking.json"),
]


def call(plugin, server, app_type: str, mode: str, **extra):
    params = base_params(server, app_type, query="What is it?", inputs='{"topic": "SSE"}', response_mode=mode,
                         **extra)
    return plugin.collect(plugin.invoke("dify_app", params), timeout=60)


@pytest.mark.parametrize(("app_type", "stream", "blocking"), CASES)
def test_blocking_summary_matches_the_streamed_one_field_by_field(plugin, server, app_type, stream, blocking):
    server.route(PATHS[app_type], fake_dify(app_type, stream, blocking))
    streamed_frames = call(plugin, server, app_type, "streaming")
    blocked_frames = call(plugin, server, app_type, "blocking")
    sent = [json.loads(r.body) for r in server.requests[-2:]]
    assert [b["response_mode"] for b in sent] == ["streaming", "blocking"]
    assert server.requests[-1].headers["accept"] == "application/json"
    assert server.requests[-1].path == PATHS[app_type]
    assert error_of(streamed_frames) is None and error_of(blocked_frames) is None

    streamed, blocked = summary_of(streamed_frames), summary_of(blocked_frames)
    for key in ("success", "status", "format", "answer", "http_status", "invalid_events"):
        assert blocked[key] == streamed[key], key
    assert blocked["total_events"] == 1
    # The result: every field agrees except those Dify's blocking answer does not carry.
    assert blocked["result"].pop("response_mode") == "blocking"
    assert streamed["result"].pop("response_mode") == "streaming"
    assert differing(blocked["result"], streamed["result"]) == BLOCKING_GAPS[stream]
    gaps = {k.rsplit(".", 1)[-1] for k in BLOCKING_GAPS[stream] if k.startswith("data.metadata.")}
    assert blocked["usage"] == {k: v for k, v in streamed["usage"].items() if k not in gaps}
    # The same variables reach downstream nodes, and the text output carries the answer.
    assert set(variables(blocked_frames)) == set(variables(streamed_frames))
    assert "".join(texts(blocked_frames)) == blocked["answer"]


def test_a_blocking_failed_workflow_fails_the_node(plugin, server):
    answer = {"workflow_run_id": "r-1", "task_id": "t-1", "data": {
        "id": "r-1", "workflow_id": "w", "status": "failed", "outputs": None, "error": "Node LLM run failed: quota",
        "elapsed_time": 0.4, "total_tokens": 0, "total_steps": 2, "created_at": 1, "finished_at": 2}}

    def route(request: Request, writer: Writer) -> None:
        writer.body(200, json.dumps(answer))

    server.route("/v1/workflows/run", route)
    frames = call(plugin, server, "workflow", "blocking")
    error = error_of(frames)
    assert error is not None and error["message"] == (
        "The stream reported an error: the workflow failed: Node LLM run failed: quota")
    frames = call(plugin, server, "workflow", "blocking", fail_on_stream_error=False)
    summary = summary_of(frames)
    assert summary["success"] is False and summary["result"]["data"]["status"] == "failed"


def test_a_blocking_http_error_is_one_line_and_never_re_sent(plugin, server):
    calls = []

    def route(request: Request, writer: Writer) -> None:
        calls.append(request)
        writer.body(503, '{"code": "internal_server_error", "message": "busy", "status": 503}')

    server.route("/v1/chat-messages", route)
    frames = call(plugin, server, "chat", "blocking")
    error = error_of(frames)
    assert error is not None and error["message"].startswith("HTTP 503") and "busy" in error["message"]
    assert len(calls) == 1
    assert all(KEY.encode() not in f.raw for f in plugin.frames)


def test_a_blocking_answer_that_is_not_json_is_refused(plugin, server):
    def route(request: Request, writer: Writer) -> None:
        writer.body(200, "<html>gateway login</html>", "text/html")

    server.route("/v1/chat-messages", route)
    error = error_of(call(plugin, server, "chat", "blocking"))
    assert error is not None and error["message"].startswith("Expected a JSON answer, got Content-Type 'text/html'")
    assert "gateway login" in error["message"]


def test_a_blocking_body_that_does_not_parse_is_counted_invalid(plugin, server):
    def route(request: Request, writer: Writer) -> None:
        writer.body(200, '{"event": "message", "answer": "cut', "application/json")

    server.route("/v1/chat-messages", route)
    error = error_of(call(plugin, server, "chat", "blocking"))  # no answer came: the run is incomplete
    assert error["error_type"] == "IncompleteRun" and "(incomplete)" in error["message"]
    frames = call(plugin, server, "chat", "blocking", fail_on_stream_error=False)
    summary = summary_of(frames)
    assert summary["success"] is False and summary["status"] == "incomplete"
    assert summary["invalid_events"] == 1 and summary["invalid_samples"] == ['{"event": "message", "answer": "cut']
    assert summary["result"]["success"] is False
    assert summary["result"]["error"] == "no valid Dify event arrived (1 invalid)"


def test_a_blocking_call_without_an_answer_by_max_duration_fails(plugin, server):
    def route(request: Request, writer: Writer) -> None:
        time.sleep(4)
        writer.body(200, "{}")

    server.route("/v1/chat-messages", route)
    started = time.monotonic()
    frames = call(plugin, server, "chat", "blocking", max_duration=1)
    assert time.monotonic() - started < 3.5
    error = error_of(frames)
    assert error is not None and "within max_duration (1 s)" in error["message"]
