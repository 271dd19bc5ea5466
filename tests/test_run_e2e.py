"""Issue 12 (and 11.6/7, 13, 18.2/3) through the plugin runtime: what a run's end means for the
node. A complete run succeeds; an incomplete one streams what came, then fails the node with one
line (or, with ``fail_on_stream_error`` off, finishes with ``success: false`` in the summary).
Every stdout line stays under the daemon's 5 MiB limit and no secret leaves the plugin."""

from __future__ import annotations

import json
import time

import pytest

from devkit.observation import llm_stream
from devkit.plugin_runner import MAX_LINE, agent_observation, error_of, summary_of, texts, tool_outputs
from devkit.sse_server import Request, Writer
from tests.format_support import transcript
from utils.formats import is_keepalive, make_format
from utils.sse_decoder import SSEDecoder

TOKEN = "sk-live-0123456789abcdef"


def before_end_marker(name: str) -> bytes:
    """The transcript's bytes up to the end of the last event before the one that completes it
    (its end marker, or ``[DONE]``): what a server that closed the stream too early sent."""
    raw = transcript(name)
    decoder, fmt = SSEDecoder(), make_format("auto")
    cut = 0
    for at in range(len(raw)):
        for event in decoder.feed(raw[at : at + 1]):
            if is_keepalive(event):
                continue
            if event.data == "[DONE]":
                return raw[:cut]
            fmt.feed(event)
            if fmt.complete:
                return raw[:cut]
            cut = at + 1
    raise AssertionError(f"{name} never completes")


def serve(server, path: str, *pieces: bytes | str | float, then=None) -> str:
    def route(request: Request, writer: Writer) -> None:
        writer.start()
        for piece in pieces:
            if isinstance(piece, float):
                time.sleep(piece)
            else:
                writer.send(piece)
        if then is not None:
            then(writer)
        else:
            writer.end()

    server.route(path, route)
    return server.url + path


def stream_variables(frames, name: str) -> list[str]:
    return [f.message["message"]["variable_value"] for f in frames if f.kind == "stream"
            and f.message.get("type") == "variable" and f.message["message"]["variable_name"] == name
            and f.message["message"]["stream"]]


DIALECTS = [("openai_chat.sse", "finish_reason"), ("openai_responses.sse", "response.completed"),
            ("anthropic.sse", "message_stop"), ("gemini.sse", "finishReason"),
            ("dify_chat.sse", "message_end"), ("dify_workflow.sse", "workflow_finished")]


# -- truncated: the server closed the stream cleanly before the end marker ---------------------
@pytest.mark.parametrize(("name", "marker"), DIALECTS)
def test_a_truncated_stream_streams_what_came_then_fails_the_node(plugin, server, name, marker):
    url = serve(server, "/t", before_end_marker(name))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "method": "POST", "body": "{}"}))
    error = error_of(frames)
    assert error is not None and error["error_type"] == "IncompleteRun"
    assert error["message"].startswith("Failed (incomplete):") and marker in error["message"]
    assert "\n" not in error["message"]
    streamed = "".join(texts(frames))
    assert streamed and "{" not in streamed  # the part of the answer that came was streamed first
    kinds = [f.kind for f in frames]
    assert kinds[-2:] == ["error", "end"] and summary_of(frames) is None
    assert "".join(stream_variables(frames, "answer")) == streamed


@pytest.mark.parametrize(("name", "marker"), DIALECTS)
def test_a_complete_stream_in_each_dialect_succeeds(plugin, server, name, marker):
    url = serve(server, "/c", transcript(name))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "method": "POST", "body": "{}"}))
    summary = summary_of(frames)
    assert error_of(frames) is None and summary["success"] is True and summary["status"] == "completed"


def test_with_fail_on_stream_error_off_a_truncated_run_ends_with_its_summary(plugin, server):
    url = serve(server, "/t", before_end_marker("dify_chat.sse"))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "fail_on_stream_error": False}))
    summary = summary_of(frames)
    assert error_of(frames) is None and frames[-1].kind == "end"
    assert summary["success"] is False and summary["status"] == "incomplete"
    assert "message_end or workflow_finished" in summary["error"] and "\n" not in summary["error"]
    assert summary["result"]["success"] is False  # the top and the result agree
    outputs = tool_outputs(frames)
    assert outputs["success"] is False and outputs["status"] == "incomplete"


# -- time and size limits ------------------------------------------------------------------
def test_max_duration_before_the_end_marker_fails_the_node(plugin, server):
    head = before_end_marker("openai_chat.sse")
    url = serve(server, "/s", head, 6.0, transcript("openai_chat.sse")[len(head):])
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "max_duration": 1}))
    error = error_of(frames)
    assert error["error_type"] == "IncompleteRun" and error["message"].startswith("Failed (timeout):")
    assert "max_duration (1 s)" in error["message"] and "finish_reason" in error["message"]
    assert "".join(texts(frames))  # what came before the cut was streamed


def test_a_dify_stream_cut_by_max_duration_says_failure_at_the_top_and_in_result(plugin, server):
    head = before_end_marker("dify_workflow.sse")
    url = serve(server, "/s", head, 6.0, transcript("dify_workflow.sse")[len(head):])
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "max_duration": 1,
                                                          "fail_on_stream_error": False}))
    summary = summary_of(frames)
    assert summary["status"] == "timeout" and summary["success"] is False and summary["error"]
    assert summary["result"]["success"] is False
    assert tool_outputs(frames)["result"]["success"] is False


def test_a_raw_stream_sampled_by_max_duration_succeeds(plugin, server):
    url = serve(server, "/s", *[piece for n in range(40) for piece in (f"data: tick {n}\n\n", 0.1)])
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "max_duration": 1}))
    summary = summary_of(frames)
    assert error_of(frames) is None
    assert summary["status"] == "timeout" and summary["success"] is True and summary["error"] is None
    assert 3 <= summary["total_events"] < 40


def test_max_stream_mb_reached_fails_the_node(plugin, server):
    line = ("data: " + "y" * 1000 + "\n\n") * 10

    def endless(request: Request, writer: Writer) -> None:
        for _ in range(2000):  # 20 MB at most
            writer.send(line)
        writer.end()

    server.route("/s", endless)
    frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s", "max_stream_mb": 1,
                                                          "output_mode": "summary"}))
    error = error_of(frames)
    assert error["error_type"] == "IncompleteRun" and "(max_stream_bytes)" in error["message"]
    assert "max_stream_mb (1 MiB)" in error["message"]


def test_max_events_on_a_raw_stream_succeeds_and_before_an_end_marker_fails(plugin, server):
    url = serve(server, "/r", *[f"data: {n}\n\n" for n in range(10)])
    summary = summary_of(plugin.collect(plugin.invoke("sse_request", {"url": url, "max_events": 3})))
    assert summary["success"] is True and summary["status"] == "max_events"
    url = serve(server, "/o", transcript("openai_chat.sse"))
    error = error_of(plugin.collect(plugin.invoke("sse_request", {"url": url, "max_events": 2})))
    assert error["error_type"] == "IncompleteRun" and "(max_events)" in error["message"]


# -- silences and broken connections without event ids: never replayed ----------------------
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_id_less_silence_is_not_replayed_and_fails(plugin, server, method):
    url = serve(server, "/s", "data: one\n\n", "data: two\n\n", 4.0)
    params = {"url": url, "method": method, "read_timeout": 1, "max_retries": 3, "retry_interval": 100}
    if method == "POST":
        params["body"] = "{}"
    frames = plugin.collect(plugin.invoke("sse_request", params))
    assert "".join(texts(frames)) == "one\ntwo\n"  # each event once
    error = error_of(frames)
    assert error["error_type"] == "IncompleteRun" and "(idle_timeout)" in error["message"]
    assert len([r for r in server.requests if r.path == "/s"]) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_id_less_broken_connection_is_not_replayed_and_fails(plugin, server, method):
    url = serve(server, "/s", "data: one\n\n", then=lambda writer: writer.abort())
    params = {"url": url, "method": method, "max_retries": 3, "retry_interval": 100}
    if method == "POST":
        params["body"] = "{}"
    frames = plugin.collect(plugin.invoke("sse_request", params))
    assert "".join(texts(frames)) == "one\n"
    error = error_of(frames)
    assert error["error_type"] == "IncompleteRun" and "(connection_lost)" in error["message"]
    assert len([r for r in server.requests if r.path == "/s"]) == 1


def test_a_broken_connection_after_the_end_marker_ends_the_run_complete(plugin, server):
    url = serve(server, "/s", transcript("openai_responses.sse").split(b"data: [DONE]")[0],
                then=lambda writer: writer.abort())
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "max_retries": 3}))
    summary = summary_of(frames)
    assert error_of(frames) is None and summary["success"] is True and summary["status"] == "completed"
    assert summary["reconnects"] == 0 and len([r for r in server.requests if r.path == "/s"]) == 1


# -- issue 13: {{#tool.answer#}} streams live -------------------------------------------------
def test_text_mode_streams_the_answer_as_a_stream_variable_that_ends_equal_to_the_summary(plugin, server):
    url = serve(server, "/s", *[piece for piece in transcript("openai_chat.sse").split(b"\n\n") for piece in
                                (piece + b"\n\n", 0.02)])
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url}))
    summary = summary_of(frames)
    chunks = stream_variables(frames, "answer")
    assert len(chunks) > 1 and "".join(chunks) == summary["answer"] == "".join(texts(frames))
    assert tool_outputs(frames)["answer"] == summary["answer"]
    # each answer chunk follows the text it repeats, at once
    kinds = [(f.message["type"], f.message["message"].get("stream")) for f in frames if f.kind == "stream"]
    first = kinds.index(("text", None))
    assert kinds[first + 1] == ("variable", True)
    # sent once: no final non-stream `answer` repeats what streamed
    finals = [f for f in frames if f.kind == "stream" and f.message["type"] == "variable"
              and f.message["message"]["variable_name"] == "answer" and not f.message["message"]["stream"]]
    assert finals == []


@pytest.mark.parametrize("mode", ["events", "summary"])
def test_other_modes_send_no_answer_stream_variable(plugin, server, mode):
    url = serve(server, "/s", transcript("openai_chat.sse"))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "output_mode": mode}))
    assert stream_variables(frames, "answer") == []
    assert tool_outputs(frames)["answer"] == "Hello! How can I help you today?"
    assert ("answer" in summary_of(frames)) is (mode != "summary")  # summary mode: the variable holds it


def test_reasoning_is_always_a_variable_and_a_summary_field(plugin, server):
    url = serve(server, "/s", transcript("anthropic.sse"))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url}))
    summary = summary_of(frames)
    assert "reasoning" in summary and tool_outputs(frames)["reasoning"] == summary["reasoning"]


# -- issue 12: what an agent reads -------------------------------------------------------------
def test_in_summary_mode_an_agent_reads_the_answer_plus_at_most_2_kib(plugin, server):
    answer = ("The quick brown fox jumps over the lazy dog. " * 31)[:1390]
    url = serve(server, "/v1/chat/completions", *llm_stream(300, answer))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "method": "POST", "body": "{}",
                                                          "output_mode": "summary"}))
    observation = agent_observation(frames)
    assert answer in observation
    assert len(observation) <= len(answer) + 2048, len(observation)
    # workflows keep every variable
    outputs = tool_outputs(frames)
    assert outputs["answer"] == answer and outputs["success"] is True and outputs["usage"]["total_tokens"] == 320
    assert {"status", "total_events", "connection_duration", "http_status", "reconnects", "format", "result",
            "reasoning"} <= set(outputs)


def test_in_summary_mode_a_dify_result_does_not_repeat_the_answer(plugin, server):
    """The dify format's result carries the answer and per-node records; summary mode's ``result``
    variable leaves both out (the ``answer`` variable holds the answer), so an agent reads it once."""
    url = serve(server, "/chat-messages", transcript("dify_chatflow.sse"))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "output_mode": "summary"}))
    outputs = tool_outputs(frames)
    answer = outputs["answer"]
    assert answer and "answer" not in outputs["result"] and "nodes" not in outputs["result"]
    assert outputs["result"]["data"]["status"] == "succeeded"
    observation = agent_observation(frames)
    assert observation.count(answer) == 1 and len(observation) <= len(answer) + 2048, len(observation)
    text_mode = tool_outputs(plugin.collect(plugin.invoke("sse_request", {"url": url})))
    assert text_mode["result"]["answer"] == answer and text_mode["result"]["nodes"]  # workflows keep them


# -- issue 18.2: no stdout line over the daemon's limit, whatever comes ----------------------
def hostile(kind: str) -> bytes:
    megabyte = 1024 * 1024
    if kind == "huge_id":
        return b"id: " + b"\x01" * megabyte + b"\ndata: x\n\n"
    if kind == "huge_event_name":
        return b"event: " + "\U0001F600".encode() * (megabyte // 4) + b"\ndata: x\n\n"
    if kind == "control_data":
        return b"data: " + b"\x02" * (3 * megabyte) + b"\n\n"
    if kind == "astral_data":
        return b"data: " + "\U0001F600".encode() * megabyte + b"\n\n"
    if kind == "huge_error":  # 3.8 MB of data; the SDK writes an error's message twice (and its traceback)
        message = "\u00e9" * (1900 * 1024)
        error = json.dumps({"error": {"message": message, "type": "server_error"}}, ensure_ascii=False)
        return f"data: {error}\n\n".encode()
    if kind == "huge_result":  # a workflow's outputs: the result variable and the summary
        outputs = {"answer": "ok", "blob": "\u00e9" * (1900 * 1024)}
        finished = {"event": "workflow_finished", "workflow_run_id": "r", "task_id": "t",
                    "data": {"id": "r", "status": "succeeded", "outputs": outputs, "total_tokens": 1}}
        return f"data: {json.dumps(finished, ensure_ascii=False)}\n\n".encode()
    raise AssertionError(kind)


@pytest.mark.parametrize("mode", ["text", "events", "summary"])
@pytest.mark.parametrize("kind", ["huge_id", "huge_event_name", "control_data", "astral_data", "huge_error",
                                  "huge_result"])
def test_every_stdout_line_stays_under_the_daemon_limit(plugin, server, kind, mode):
    url = serve(server, "/h", hostile(kind))
    session = plugin.invoke("sse_request", {"url": url, "output_mode": mode, "max_event_kb": 4096,
                                            "fail_on_stream_error": True})
    frames = plugin.collect(session, timeout=60)
    assert frames[-1].kind == "end" and not plugin.bad_lines
    sizes = [len(f.raw) for f in frames]
    assert max(sizes) < MAX_LINE, (kind, mode, max(sizes))
    assert summary_of(frames) is not None or error_of(frames) is not None


# -- issue 18.3 (edge): every frame masked ----------------------------------------------------
@pytest.mark.parametrize("mode", ["text", "events", "summary"])
def test_a_secret_echoed_in_id_event_data_and_error_is_masked_in_every_frame(plugin, server, mode):
    def echo(request: Request, writer: Writer) -> None:
        token = request.headers["authorization"].split()[-1]
        writer.send(f"id: {token}\nevent: {token}\ndata: data {token}\n\n")
        writer.send(f"data: {json.dumps({'error': {'message': 'bad key ' + token, 'type': 'auth'}})}\n\n")
        writer.end()

    server.route("/s", echo)
    for fail in (True, False):
        frames = plugin.collect(plugin.invoke("sse_request", {"url": server.url + "/s", "auth_type": "bearer",
                                                              "auth_token": TOKEN, "output_mode": mode,
                                                              "stream_format": "openai",
                                                              "fail_on_stream_error": fail}))
        assert all(TOKEN.encode() not in f.raw for f in frames), (mode, fail)
        assert (error_of(frames) is not None) is fail
        if not fail:
            assert summary_of(frames)["last_event_id"] == "***"


def test_with_stream_reasoning_the_reasoning_streams_live_and_never_joins_the_answer(plugin, server):
    url = serve(server, "/s", *[piece + b"\n\n" for piece in transcript("deepseek.sse").split(b"\n\n") if piece])
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "stream_reasoning": True}))
    summary = summary_of(frames)
    live = stream_variables(frames, "reasoning")
    assert len(live) > 1 and "".join(live) == summary["reasoning"] != ""
    assert summary["reasoning"] not in summary["answer"] and "".join(texts(frames)) == summary["answer"]
    assert tool_outputs(frames)["reasoning"] == summary["reasoning"]
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url}))  # off: a variable at the end only
    assert stream_variables(frames, "reasoning") == [] and tool_outputs(frames)["reasoning"] == summary["reasoning"]


def test_a_blocking_answer_over_max_event_kb_fails_the_dify_app_node_in_one_line(plugin, server):
    body = json.dumps({"event": "message", "task_id": "t", "message_id": "m", "conversation_id": "c",
                       "answer": "z" * (100 * 1024), "metadata": {"usage": {"total_tokens": 1}}})
    server.route("/v1/chat-messages", lambda request, writer: writer.body(200, body))
    frames = plugin.collect(plugin.invoke("dify_app", {
        "base_url": server.url + "/v1", "api_key": "app-0123456789abcdef", "app_type": "chat", "query": "hi",
        "response_mode": "blocking", "max_event_kb": 64}))
    error = error_of(frames)
    assert error["error_type"] == "IncompleteRun" and error["message"].startswith("Failed (event_too_large):")
    assert "max_event_kb (64 KiB)" in error["message"] and len(error["message"]) < 1000


def test_a_workflow_finished_with_a_status_other_than_succeeded_is_no_success(plugin, server):
    finished = {"event": "workflow_finished", "workflow_run_id": "r", "task_id": "t",
                "data": {"id": "r", "status": "paused", "outputs": {}, "total_tokens": 1}}
    url = serve(server, "/s", f"data: {json.dumps(finished)}\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "fail_on_stream_error": False}))
    summary = summary_of(frames)
    assert summary["success"] is False and summary["result"]["success"] is False
    assert summary["error"] == "the app ended with status paused" and summary["status"] == "incomplete"


def test_with_an_event_filter_the_answer_variable_still_holds_every_events_text(plugin, server):
    url = serve(server, "/s", "event: delta\ndata: a\n\n", "event: other\ndata: b\n\n", "event: delta\ndata: c\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "event_filter": "delta"}))
    assert "".join(texts(frames)) == "a\nc\n"
    assert "".join(stream_variables(frames, "answer")) == "a\nb\nc\n" == tool_outputs(frames)["answer"]


# -- issue 11.6 through the plugin: a 1.3 MB node_finished no longer kills the answer ----------
def test_a_dify_app_whose_node_finished_passes_max_event_kb_still_gives_its_answer(plugin, server):
    events = transcript("dify_workflow.sse").split(b"\n\n")
    node = {"event": "node_finished", "task_id": "t", "workflow_run_id": "r",
            "data": {"id": "n", "node_id": "doc", "node_type": "document-extractor", "status": "succeeded",
                     "outputs": {"text": "x" * 1_300_000}}}
    body = b"\n\n".join(events[:3] + [b"data: " + json.dumps(node).encode()] + events[3:])
    server.route("/v1/workflows/run", lambda request, writer: (writer.start(), writer.send(body), writer.end()))
    frames = plugin.collect(plugin.invoke("dify_app", {
        "base_url": server.url + "/v1", "api_key": "app-0123456789abcdef", "app_type": "workflow", "query": "hi"}))
    summary = summary_of(frames)
    assert error_of(frames) is None and summary["success"] is True and summary["oversized_events"] == 1
    assert summary["answer"] and summary["usage"]


def test_a_raw_event_over_max_event_kb_fails_the_node_in_one_line(plugin, server):
    url = serve(server, "/s", "data: small\n\n", "data: " + "x" * (200 * 1024) + "\n\n", "data: after\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "max_event_kb": 64}))
    assert "".join(texts(frames)) == "small\n"
    error = error_of(frames)
    assert error["error_type"] == "IncompleteRun" and "max_event_kb (64 KiB)" in error["message"]
