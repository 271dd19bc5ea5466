"""The ``dify`` format at the aggregator level: transcripts of each Dify app type, decoded by our
SSE decoder (whole and in 7-byte pieces) and fed event by event."""

from __future__ import annotations

import json

import pytest
from httpx_sse import ServerSentEvent

from tests.format_support import BLOCKING_GAPS, aggregate, blocking_answer, differing, events_of
from utils.formats.dify import BLOCKING_EVENT, DifyFormat

CHAT_ANSWER = "Hi there! The iPhone 13 Pro Max has a 6.7-inch display."


@pytest.mark.parametrize("chunk_size", [0, 7])
def test_chat_streams_message_answers_and_takes_usage_from_message_end(chunk_size: int) -> None:
    run = aggregate("dify_chat.sse", "dify", chunk_size)
    assert run.streamed == CHAT_ANSWER
    assert run.outcome.answer == CHAT_ANSWER
    assert run.outcome.usage.as_dict() == {"prompt_tokens": 1033, "completion_tokens": 135, "total_tokens": 1168,
                                           "total_price": pytest.approx(0.001303), "currency": "USD"}
    result = run.outcome.result
    assert result["success"] is True and run.outcome.error is None
    assert result["conversation_id"] == "c216d7a4-5a1e-4a2a-b4a4-1d2d8a6c5e10"
    assert result["message_id"] == "663c5084-a254-4040-8ad3-51f2a3c1a77c"
    assert result["data"]["status"] == "succeeded"
    assert result["data"]["outputs"] == {"answer": CHAT_ANSWER}
    assert result["data"]["created_at"] == 1705398420


def test_chat_ping_is_dropped_and_multi_line_data_is_joined() -> None:
    events = events_of("dify_chat.sse")
    assert all(e.event != "ping" for e in events)  # `event: ping` has no data: no event (WHATWG)
    assert any("\n" in e.data for e in events)  # the event written as two data lines
    run = aggregate("dify_chat.sse", "dify")
    assert "ping" not in run.types
    assert run.outcome.result["data"]["event_count"] == 8


def test_tts_messages_are_counted_never_streamed_as_text() -> None:
    run = aggregate("dify_chat.sse", "dify")
    assert run.types.count("tts_message") == 1 and run.types.count("tts_message_end") == 1
    assert run.outcome.result["tts_events"] == 2
    assert "SUQz" not in run.streamed and "SUQz" not in run.outcome.answer


def test_event_type_is_the_json_event_name() -> None:
    run = aggregate("dify_chat.sse", "dify")
    assert run.types == ["message"] * 5 + ["message_end", "tts_message", "tts_message_end"]


def test_agent_streams_agent_message_and_keeps_files() -> None:
    run = aggregate("dify_agent.sse", "dify")
    assert run.streamed == "I have created an image of a cute cat."
    result = run.outcome.result
    assert result["files"] == [{"id": "d75b7a5c-ce5e-442e-ab1b-d6a5e5b557b0", "type": "image",
                                "belongs_to": "assistant", "url": "https://files.example.com/cat.png"}]
    assert run.outcome.usage.total_tokens == 457
    assert result["success"] is True


def test_chatflow_with_workflow_finished_then_message_end_over_crlf() -> None:
    assert b"\r\n\r\n" in open("tests/transcripts/dify_chatflow.sse", "rb").read()
    run = aggregate("dify_chatflow.sse", "dify", chunk_size=5)
    assert run.streamed == "Paris is the capital of France."
    assert run.types[-4:] == ["workflow_finished", "message_end", "tts_message", "tts_message_end"]
    result = run.outcome.result
    data = result["data"]
    assert result["success"] is True
    assert data["workflow_run_id"] == "fb47b2e6-3b9e-4c8b-8a3c-9b8e4b1c2d3e"
    assert data["status"] == "succeeded"
    assert data["outputs"] == {"answer": "Paris is the capital of France."}
    assert data["metadata"] == {"total_tokens": 67, "total_price": pytest.approx(0.0000141), "currency": "USD",
                                "elapsed_time": 0.973, "total_steps": 3}
    assert (data["created_at"], data["finished_at"]) == (1705407629, 1705407630)
    assert data["event_count"] == 15
    assert result["conversation_id"] == "45701982-8118-4bc5-8e9b-64562b4555f2"
    assert run.outcome.usage.prompt_tokens == 58 and run.outcome.usage.completion_tokens == 9


def test_nodes_are_recorded_from_node_finished() -> None:
    nodes = aggregate("dify_chatflow.sse", "dify").outcome.result["nodes"]
    assert [n["node_type"] for n in nodes] == ["start", "llm", "answer"]
    assert nodes[1] == {"node_id": "1718000000002", "title": "LLM", "node_type": "llm", "status": "succeeded",
                        "elapsed_time": 0.95, "tokens": 67, "price": pytest.approx(0.0000141)}


def test_workflow_text_chunks_and_totals_without_double_counting_iterations() -> None:
    run = aggregate("dify_workflow.sse", "dify", chunk_size=3)
    assert run.streamed == "为了回答这个问题，我们先总结要点。"  # multi-byte text split across reads
    meta = run.outcome.result["data"]["metadata"]
    assert meta["total_tokens"] == 300  # from workflow_finished
    # workflow_finished carries no price: summed from top-level nodes; the iteration node's 0.0005
    # already holds its two inner LLM runs (0.0002 + 0.0003), which are not added again.
    assert meta["total_price"] == pytest.approx(0.0005 + 0.00016)
    assert meta["currency"] == "USD"
    assert meta["total_steps"] == 6
    assert run.outcome.result["data"]["outputs"] == {"text": "为了回答这个问题，我们先总结要点。"}
    assert len(run.outcome.result["nodes"]) == 6


def test_node_sums_fill_totals_when_the_workflow_never_finished() -> None:
    fmt = DifyFormat()
    for event in events_of("dify_workflow.sse")[:10]:  # cut before the last LLM node and workflow_finished
        fmt.feed(event)
    outcome = fmt.finish()
    assert outcome.usage.total_tokens == 220  # the iteration node only; its inner nodes are not added twice
    assert outcome.result["success"] is False
    assert outcome.result["data"]["status"] == "running"
    assert outcome.error is None  # not a failure the stream reported: the run decides what a cut stream is
    assert "before the app finished" in outcome.result["error"]


def test_failed_workflow_sets_the_error_and_an_unsuccessful_result() -> None:
    run = aggregate("dify_workflow_failed.sse", "dify")
    assert run.streamed == "Partial "
    assert run.outcome.error == ("the workflow failed: [openai] Error: API request failed with status code 429: "
                                 "Rate limit reached")
    result = run.outcome.result
    assert result["success"] is False and result["error"] == run.outcome.error
    assert result["data"]["status"] == "failed"
    assert result["data"]["outputs"] == {}
    assert result["nodes"][1]["status"] == "failed" and "429" in result["nodes"][1]["error"]


def test_error_event_mid_stream_keeps_the_text_and_reports_code_and_message() -> None:
    run = aggregate("dify_chat_error.sse", "dify")
    assert run.streamed == "Let me think"
    assert run.outcome.error == ("[openai] Bad Request Error, context length exceeded "
                                 "(completion_request_error, HTTP 400)")
    assert run.outcome.result["success"] is False
    assert run.outcome.result["data"]["status"] == "failed"


def test_message_replace_replaces_the_kept_answer() -> None:
    run = aggregate("dify_completion.sse", "dify")
    assert run.streamed == "Here is a rude poem"  # what was streamed live cannot be taken back
    assert run.outcome.answer == "Sorry, I cannot write that."
    assert run.outcome.result["data"]["outputs"] == {"answer": "Sorry, I cannot write that."}


def test_text_replace_replaces_a_workflow_answer() -> None:
    fmt = DifyFormat()
    fmt.feed(ServerSentEvent(data='{"event": "text_chunk", "data": {"text": "draft"}}'))
    fmt.feed(ServerSentEvent(data='{"event": "text_replace", "data": {"text": "final"}}'))
    assert fmt.finish().answer == "final"


@pytest.mark.parametrize(("stream", "answer"), [
    ("dify_chat.sse", "dify_chat_blocking.json"),
    ("dify_chatflow.sse", "dify_chatflow_blocking.json"),
    ("dify_workflow.sse", "dify_workflow_blocking.json"),
    ("dify_completion.sse", "dify_completion_blocking.json"),
])
def test_blocking_answer_aggregates_to_the_streamed_result(stream: str, answer: str) -> None:
    fmt = DifyFormat()
    event_type, text = fmt.feed(ServerSentEvent(BLOCKING_EVENT, json.dumps(blocking_answer(answer))))
    blocked = fmt.finish()
    streamed = aggregate(stream, "dify").outcome
    assert text == blocked.answer == streamed.answer
    assert event_type == ("workflow_finished" if "workflow" in stream else "message")
    assert blocked.result.pop("response_mode") == "blocking"
    assert streamed.result.pop("response_mode") == "streaming"
    assert blocked.result["data"]["event_count"] == 1
    # Field by field: everything agrees except what a blocking answer does not carry.
    assert differing(blocked.result, streamed.result) == BLOCKING_GAPS[stream]
    gaps = {k for k in BLOCKING_GAPS[stream] if k.startswith("data.metadata.")}
    expected_usage = {k: v for k, v in streamed.usage.as_dict().items() if f"data.metadata.{k}" not in gaps}
    assert blocked.usage.as_dict() == expected_usage
