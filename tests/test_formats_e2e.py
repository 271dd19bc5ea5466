"""The formats end to end: ``sse_request`` in the plugin runtime, against transcripts served by a
local SSE server in several network chunks, with ``stream_format`` left on ``auto``."""

from __future__ import annotations

import json

import pytest

from devkit.plugin_runner import error_of, summary_of, texts, tool_outputs
from devkit.sse_server import Request, Writer
from tests.format_support import aggregate, transcript


def serve(server, name: str, pieces: int = 5) -> str:
    def route(request: Request, writer: Writer) -> None:
        writer.start()
        writer.send_pieces(transcript(name), pieces)
        writer.end()

    server.route("/" + name, route)
    return f"{server.url}/{name}"


def variables(frames) -> dict:
    return tool_outputs(frames)  # as Dify's tool node merges stream and final variables


@pytest.mark.parametrize(("name", "fmt"), [
    ("dify_chat.sse", "dify"), ("dify_chatflow.sse", "dify"), ("dify_workflow.sse", "dify"),
    ("dify_agent.sse", "dify"), ("openai_chat.sse", "openai"), ("openai_responses.sse", "openai"),
    ("anthropic.sse", "anthropic"), ("gemini.sse", "gemini"),
    # gateways and providers (issue 11): see tests/test_formats_gateways.py for their sources
    ("openrouter.sse", "openai"), ("azure_openai.sse", "openai"), ("litellm.sse", "openai"), ("vllm.sse", "openai"),
    ("ollama_openai.sse", "openai"), ("deepseek.sse", "openai"), ("mistral.sse", "openai"),
    ("gemini_openai.sse", "openai"),
])
def test_text_mode_streams_the_answer_and_the_summary_has_format_answer_usage_result(plugin, server, name, fmt):
    expected = aggregate(name, fmt).outcome
    frames = plugin.collect(plugin.invoke("sse_request", {"url": serve(server, name), "method": "POST",
                                                          "body": "{}"}))
    assert error_of(frames) is None
    streamed = "".join(texts(frames))
    assert streamed == expected.answer and "{" not in streamed  # the answer, never the JSON
    summary = summary_of(frames)
    assert summary["format"] == fmt and summary["success"] is True
    assert summary["answer"] == expected.answer
    assert summary["usage"] == expected.usage.as_dict() and summary["usage"]
    assert summary["result"] == expected.result
    values = variables(frames)
    assert values["format"] == fmt and values["answer"] == expected.answer
    assert values["usage"] == summary["usage"] and values["result"] == summary["result"]
    if expected.reasoning:  # reasoning is never the answer nor the live text (issue 17)
        assert expected.reasoning[:12] not in streamed and expected.reasoning[:12] not in summary["answer"]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("dify_chat_error.sse", "Let me think", "context length exceeded (completion_request_error, HTTP 400)"),
    ("dify_workflow_failed.sse", "Partial ", "the workflow failed: [openai] Error"),
    ("openai_error.sse", "The answer is", "The server had an error"),
    ("anthropic_error.sse", "Okay, let", "Overloaded (overloaded_error)"),
    ("gemini_error.sse", "The", "(UNAVAILABLE)"),
    ("openrouter_error.sse", "The answer begins", "Provider disconnected unexpectedly (server_error)"),
])
def test_a_reported_failure_fails_the_node_after_the_text_arrived(plugin, server, name, text, message):
    frames = plugin.collect(plugin.invoke("sse_request", {"url": serve(server, name)}))
    assert "".join(texts(frames)) == text
    error = error_of(frames)
    assert error is not None and message in error["message"]
    assert frames.index(next(f for f in frames if f.kind == "error")) > max(
        i for i, f in enumerate(frames) if f.kind == "stream" and f.message.get("type") == "text")


def test_fail_on_stream_error_off_finishes_with_success_false(plugin, server):
    frames = plugin.collect(plugin.invoke("sse_request", {"url": serve(server, "anthropic_error.sse"),
                                                          "fail_on_stream_error": False}))
    assert error_of(frames) is None
    summary = summary_of(frames)
    assert summary["success"] is False and summary["error"] == "Overloaded (overloaded_error)"


def test_dify_event_names_work_with_stop_on_and_event_filter(plugin, server):
    url = serve(server, "dify_chatflow.sse")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "stop_on": "message_end",
                                                          "event_filter": "message,message_end",
                                                          "output_mode": "events"}))
    summary = summary_of(frames)
    assert summary["status"] == "stopped"
    assert [e["event_type"] for e in summary["events"]] == ["message"] * 4 + ["message_end"]
    assert summary["result"]["data"]["status"] == "succeeded"  # the aggregate saw every event
    assert summary["result"].get("tts_events") is None  # stopped before the TTS events


def test_explicit_raw_keeps_the_json_lines(plugin, server):
    frames = plugin.collect(plugin.invoke("sse_request", {"url": serve(server, "gemini.sse"),
                                                          "stream_format": "raw"}))
    assert "".join(texts(frames)).count('"candidates"') == 3
    assert summary_of(frames)["format"] == "raw"


PINGS = "event: ping\ndata: 2023-04-07 23:36:05.744043\n\nevent: ping\ndata: \n\ndata:\n\n"


@pytest.mark.parametrize(("name", "fmt"), [("anthropic.sse", "anthropic"), ("openai_chat.sse", "openai"),
                                           ("dify_chat.sse", "dify")])
def test_keepalives_first_never_decide_the_format_nor_count(plugin, server, name, fmt):
    server.route("/" + name, None, PINGS, transcript(name))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": f"{server.url}/{name}"}))
    expected = aggregate(name, fmt)
    summary = summary_of(frames)
    assert summary["format"] == fmt and error_of(frames) is None
    assert "".join(texts(frames)) == expected.outcome.answer
    assert summary["total_events"] == len(expected.types)  # the pings are not counted
    assert summary["invalid_events"] == 0


def test_raw_mode_shows_no_keepalive(plugin, server):
    server.route("/raw", None, PINGS, "data: one\n\n", PINGS, "data: two\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": f"{server.url}/raw", "stream_format": "raw",
                                                          "output_mode": "events"}))
    summary = summary_of(frames)
    assert summary["total_events"] == 2 and [e["data"] for e in summary["events"]] == ["one", "two"]
    assert summary["answer"] == "one\ntwo\n"


def test_one_deeply_nested_event_is_an_invalid_event_and_the_run_goes_on(plugin, server):
    deep = "data: " + '{"choices": ' + "[" * 100_000 + "]" * 100_000 + "}\n\n"
    server.route("/deep", None, deep, transcript("openai_chat.sse"))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": f"{server.url}/deep", "stream_format": "openai"}))
    assert error_of(frames) is None
    summary = summary_of(frames)
    assert summary["answer"] == aggregate("openai_chat.sse", "openai").outcome.answer
    assert summary["invalid_events"] == 1 and summary["success"] is True


def test_an_oversized_response_completed_is_skipped_and_the_responses_run_succeeds(plugin, server):
    """Issue 11 fault 6 for the Responses API: an image tool's base64 (partial images, the output
    item, ``response.completed`` repeating it all) passes max_event_kb; the answer came in deltas."""
    image = "iVBORw0KGgo" * 200  # 2.2 KB of base64, over a 1 KiB limit
    body = "".join(f"event: {kind}\ndata: {data}\n\n" for kind, data in [
        ("response.created", '{"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}'),
        ("response.output_text.delta", '{"type": "response.output_text.delta", "delta": "Here is your cat."}'),
        ("response.image_generation_call.partial_image",
         '{"type": "response.image_generation_call.partial_image", "partial_image_b64": "' + image + '"}'),
        ("response.output_item.done", '{"type": "response.output_item.done", "output_index": 1, "item": {"id": '
                                      '"ig_1", "type": "image_generation_call", "result": "' + image + '"}}'),
        ("response.completed", '{"type": "response.completed", "response": {"id": "resp_1", "status": "completed", '
                               '"output": [{"type": "image_generation_call", "result": "' + image + '"}]}}'),
    ])
    server.route("/responses", None, body)
    frames = plugin.collect(plugin.invoke("sse_request", {"url": f"{server.url}/responses", "max_event_kb": 1}))
    assert error_of(frames) is None
    summary = summary_of(frames)
    assert "".join(texts(frames)) == "Here is your cat." and summary["success"] is True
    assert summary["status"] == "completed" and summary["oversized_events"] == 3
    assert summary["result"]["status"] == "completed"


@pytest.mark.parametrize("stream_format", ["auto", "raw"])
def test_an_event_whose_type_is_a_list_is_no_crash(plugin, server, stream_format):
    """``data: {"type": []}`` failed the node with "unhashable type: 'list'" (the keep-alive check)."""
    server.route("/odd", None, chat_line("Hi"), 'data: {"type": []}\n\n', 'data: {"event": {"a": 1}}\n\n',
                 chat_line(" there", "stop"), "data: [DONE]\n\n")
    frames = plugin.collect(plugin.invoke("sse_request", {"url": f"{server.url}/odd", "stream_format": stream_format}))
    assert error_of(frames) is None
    summary = summary_of(frames)
    assert summary["success"] is True and summary["total_events"] == 4
    if stream_format == "auto":
        assert "".join(texts(frames)) == "Hi there" and summary["invalid_events"] == 0


def chat_line(content: str, finish: str | None = None) -> str:
    return "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": {"content": content}, "finish_reason": finish}]}) + "\n\n"
