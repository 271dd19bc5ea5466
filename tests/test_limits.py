"""Limits and stop conditions: every one ends the run with a clear status and a summary."""

from __future__ import annotations

import json

import pytest
from httpx_sse import ServerSentEvent

from devkit.sse_server import Request, Writer
from tests.format_support import aggregate, events_of
from tests.helpers import options, run
from utils.outcome import IncompleteRun
from utils.report import EndState, StreamReport
from utils.sse_decoder import OversizedEvent
from utils.stream_run import StreamRun


def test_an_event_over_max_event_kb_ends_with_event_too_large(server):
    big = "x" * (5 * 1024 * 1024)
    server.route("/s", None, "data: small\n\n", f"data: {big}\n\n", "data: after\n\n")
    chunks, summary = run({"url": server.url + "/s", "max_event_kb": 1024})
    assert summary["status"] == "event_too_large" and summary["success"] is False
    assert summary["total_events"] == 1 and "max_event_kb" in summary["error"]
    assert len(json.dumps(summary)) < 100_000


def test_endless_stream_stops_at_max_stream_mb(server):
    line = "data: " + "y" * 1000 + "\n\n"

    def endless(request: Request, writer: Writer) -> None:
        for _ in range(20_000):  # 20 MB at most
            writer.send(line * 10)
        writer.end()

    server.route("/s", endless)
    chunks, summary = run({"url": server.url + "/s", "max_stream_mb": 1, "output_mode": "summary"})
    assert summary["status"] == "max_stream_bytes"
    assert 1024 * 1024 < summary["bytes_received"] < 3 * 1024 * 1024


def test_done_ends_the_stream_and_is_never_shown(server):
    server.route("/s", None, "data: a\n\n", "data: [DONE]\n\n", "data: after\n\n")
    chunks, summary = run({"url": server.url + "/s"})
    assert "".join(c.text for c in chunks) == "a\n"
    assert summary["status"] == "completed" and summary["total_events"] == 1
    assert all(e["data"] != "[DONE]" for e in summary["events"])


def test_stop_on_event_type_ends_after_that_event(server):
    server.route("/s", None, "data: a\n\n", "event: message_end\ndata: {}\n\n", "data: after\n\n")
    chunks, summary = run({"url": server.url + "/s", "stop_on": "workflow_finished, message_end"})
    assert summary["status"] == "stopped" and summary["total_events"] == 2
    assert [e["event_type"] for e in summary["events"]] == ["message", "message_end"]


def test_stop_on_data_value(server):
    server.route("/s", None, "data: a\n\n", "data: END\n\n", "data: after\n\n")
    chunks, summary = run({"url": server.url + "/s", "stop_on": "END"})
    assert summary["status"] == "stopped" and [e["data"] for e in summary["events"]] == ["a", "END"]


def test_event_filter_keeps_only_the_listed_types(server):
    server.route("/s", None, "event: ping\ndata: {}\n\n", "event: delta\ndata: a\n\n", "event: other\ndata: b\n\n",
                 "event: delta\ndata: c\n\n")
    chunks, summary = run({"url": server.url + "/s", "event_filter": "delta"})
    assert "".join(c.text for c in chunks) == "a\nc\n"
    assert summary["total_events"] == 2 and {e["event_type"] for e in summary["events"]} == {"delta"}


def test_max_events_stops_early(server):
    server.route("/s", None, *[f"data: {n}\n\n" for n in range(10)])
    chunks, summary = run({"url": server.url + "/s", "max_events": 3})
    assert summary["status"] == "max_events" and summary["total_events"] == 3


def test_kept_events_are_bounded_and_truncation_is_said(server):
    server.route("/s", None, "".join(f"data: {n}\n\n" for n in range(1000)))
    chunks, summary = run({"url": server.url + "/s"})
    assert summary["total_events"] == 1000
    assert len(summary["events"]) == 100 and summary["events_truncated"] is True
    assert summary["events_dropped"] == 900


def test_summary_stays_small_whatever_the_stream(server):
    payload = "\x01" * (900 * 1024)  # JSON escapes each control character to six bytes

    def heavy(request: Request, writer: Writer) -> None:
        for _ in range(40):
            writer.send(f"data: {payload}\n\n")
        writer.end()

    server.route("/s", heavy)
    chunks, summary = run({"url": server.url + "/s"})
    assert summary["total_events"] == 40
    assert len(json.dumps(summary)) <= 2 * 1024 * 1024


# -- issue 11.6: an oversized event the answer does not need is skipped; one it needs fails ---
class ScriptedClient:
    """A client that yields given batches and then reports a clean end (the decoder's
    ``OversizedEvent`` dispatch is the decoder's to test; here: what the run does with one)."""

    def __init__(self, *batches: list[ServerSentEvent]) -> None:
        self.batches = batches
        self.finished = None

    def stream(self, finished=lambda: False):
        self.finished = finished
        yield from self.batches

    @property
    def report(self) -> StreamReport:
        return StreamReport(EndState.COMPLETED, 200, 0, 1, sum(map(len, self.batches)), "", 0.1)


def dify_events(name: str) -> list[ServerSentEvent]:
    return list(events_of(name))


def oversized(event: str, head: str) -> OversizedEvent:
    return OversizedEvent(event, head[: OversizedEvent.HEAD_CHARS], "", 1_300_000)


def test_an_oversized_event_the_answer_does_not_need_is_skipped_counted_and_the_run_goes_on():
    events = dify_events("dify_workflow.sse")
    node = oversized("message", '{"event": "node_finished", "task_id": "t", "data": {"outputs": {"text": "' + "x" * 2000)
    opts = options(url="http://127.0.0.1:1/s", stream_format="dify")
    stream_run = StreamRun(opts, client=ScriptedClient(events[:3], [node], events[3:]))
    chunks = list(stream_run.chunks())
    summary = stream_run.summary.as_dict()
    assert summary["success"] is True and summary["status"] == "completed"
    assert summary["oversized_events"] == 1 and summary["total_events"] == len(events)
    assert summary["answer"] == aggregate("dify_workflow.sse", "dify").outcome.answer
    assert all(e.data != node.data for c in chunks for _, e in c.events)  # neither shown nor kept


@pytest.mark.parametrize("head", ['{"event": "message", "answer": "' + "y" * 2000,
                                  '{"id": "c", "object": "chat.completion.chunk", "choices": [{"delta": {"content": "'])
def test_an_oversized_event_that_carries_the_answer_ends_the_run_and_fails_it(head):
    first = dify_events("dify_chat.sse")[:2]
    opts = options(url="http://127.0.0.1:1/s", max_event_kb=64)
    stream_run = StreamRun(opts, client=ScriptedClient(first, [oversized("message", head)], first))
    with pytest.raises(IncompleteRun) as raised:
        list(stream_run.chunks())
    message = str(raised.value)
    assert message.startswith("Failed (event_too_large):") and "max_event_kb (64 KiB)" in message
    assert "\n" not in message and len(message) < 1000
    summary = stream_run.summary.as_dict()
    assert summary["success"] is False and summary["oversized_events"] == 0


def test_the_run_tells_the_client_when_the_format_saw_its_end_marker():
    events = dify_events("dify_chat.sse")
    client = ScriptedClient(events[:2], events[2:])
    stream_run = StreamRun(options(url="http://127.0.0.1:1/s"), client=client)
    assert client.finished is None
    iterator = stream_run.chunks()
    next(iterator)
    assert client.finished() is False
    list(iterator)
    assert client.finished() is True
