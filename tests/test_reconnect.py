"""Reconnection as the WHATWG processing model says, against servers that misbehave on purpose."""

from __future__ import annotations

import time

import pytest

from devkit.sse_server import Request, Route, Writer
from tests.helpers import collect, options, resumable, run
from utils.errors import ConnectFailed, HTTPStatusError
from utils.report import EndState
from utils.sse_client import SSEClient


def resumed_with(reply: Route) -> Route:
    """A route that sends one event with id 1 and drops the connection; a reconnect (it carries
    Last-Event-ID) gets ``reply``."""

    def route(request: Request, writer: Writer) -> None:
        if request.headers.get("last-event-id"):
            reply(request, writer)
            return
        writer.send("retry: 10\nid: 1\ndata: a\n\n")
        writer.abort()

    return route


def test_reconnect_resumes_with_last_event_id_without_duplicates_or_loss(server):
    server.route("/s", resumable(last=4, drop_after=2))
    client = SSEClient(options(url=server.url + "/s"))
    assert [data for _, data, _ in collect(client)] == ["event 1", "event 2", "event 3", "event 4"]
    assert client.report.reconnects == 1
    assert [r.headers.get("last-event-id") for r in server.requests] == [None, "2"]


def test_post_with_event_ids_is_resumed(server):
    server.route("/s", resumable(last=4, drop_after=2))
    chunks, summary = run({"url": server.url + "/s", "method": "POST", "body": '{"a": 1}'})
    assert summary["total_events"] == 4 and summary["reconnects"] == 1
    assert server.requests[1].headers["last-event-id"] == "2"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_drop_after_events_without_ids_is_not_reconnected_and_ends_lost(server, method):
    """Issue 12: reconnecting a stream without event ids would replay it; the same rule for every method."""
    def drops(request: Request, writer: Writer) -> None:
        writer.send("data: costly answer part\n\n")
        writer.abort()

    server.route("/s", drops)
    client = SSEClient(options(url=server.url + "/s", method=method, body='{"q": 1}' if method == "POST" else "",
                               retry_interval=10))
    assert [data for _, data, _ in collect(client)] == ["costly answer part"]
    assert len(server.requests) == 1
    report = client.report
    assert report.end is EndState.LOST and report.reconnects == 0 and report.events_received == 1
    assert report.error == ("connection lost after 1 event (RemoteProtocolError: peer closed connection without "
                            "sending complete message body (incomplete chunked read)); not reconnected, because "
                            "the server sent no event ids to resume from")


def test_get_without_ids_is_retried_when_nothing_was_delivered(server):
    calls = []

    def flaky(request: Request, writer: Writer) -> None:
        calls.append(1)
        if len(calls) == 1:
            writer.start()
            writer.send(": no event yet\n\n")
            writer.abort()
            return
        writer.send("data: x\n\n")
        writer.end()

    server.route("/s", flaky)
    client = SSEClient(options(url=server.url + "/s", retry_interval=10))
    assert len(collect(client)) == 1 and client.report.reconnects == 1 and client.report.end is EndState.COMPLETED


def test_a_silent_get_without_ids_is_not_reconnected_and_replayed(server):
    server.route("/s", None, "data: hello\n\n", 3.0, "data: late\n\n")
    client = SSEClient(options(url=server.url + "/s", read_timeout=1, max_retries=3, retry_interval=10))
    assert [data for _, data, _ in collect(client)] == ["hello"]
    assert len(server.requests) == 1
    assert client.report.end is EndState.IDLE_TIMEOUT
    assert client.report.error == ("no data for 1 s (read_timeout) after 1 event; not reconnected, because the "
                                   "server sent no event ids to resume from")


def test_a_silent_stream_with_ids_is_resumed(server):
    def route(request: Request, writer: Writer) -> None:
        if request.headers.get("last-event-id") == "1":
            writer.send("id: 2\ndata: two\n\n")
            writer.end()
            return
        writer.send("retry: 10\nid: 1\ndata: one\n\n")
        time.sleep(3)
        writer.end()

    server.route("/s", route)
    client = SSEClient(options(url=server.url + "/s", read_timeout=1))
    assert [data for _, data, _ in collect(client)] == ["one", "two"]
    assert client.report.end is EndState.COMPLETED and client.report.reconnects == 1


@pytest.mark.parametrize("cut", ["abort", "silence"])
def test_after_finished_a_broken_end_is_completed_without_reconnect(server, cut):
    """C2 / issue 11 fault 7: once the run has its answer, a broken end is no failure and no replay."""
    def route(request: Request, writer: Writer) -> None:
        writer.send("id: 1\ndata: answer\n\n")
        if cut == "abort":
            writer.abort()
        else:
            time.sleep(3)
            writer.end()

    server.route("/s", route)
    client = SSEClient(options(url=server.url + "/s", read_timeout=1, retry_interval=10))
    seen: list[str] = []
    for batch in client.stream(finished=lambda: "answer" in seen):
        seen.extend(e.data for e in batch)
    assert seen == ["answer"] and len(server.requests) == 1
    assert client.report.end is EndState.COMPLETED and client.report.error is None


def test_without_finished_the_same_break_with_an_id_reconnects(server):
    server.route("/s", resumable(last=2, drop_after=1))
    client = SSEClient(options(url=server.url + "/s"))
    assert len(collect(client)) == 2 and client.report.reconnects == 1


@pytest.mark.parametrize("status", [201, 202, 203, 204, 205, 206])
def test_a_2xx_other_than_200_as_first_answer_fails_naming_it(server, status):
    server.route("/s", lambda r, w: w.body(status, "", content_type="text/event-stream"))
    with pytest.raises(HTTPStatusError) as err:
        collect(SSEClient(options(url=server.url + "/s", max_retries=5)))
    assert str(err.value).startswith(f"HTTP {status} ") and "must answer 200" in str(err.value)
    assert "\n" not in str(err.value) and len(server.requests) == 1


@pytest.mark.parametrize("status", [204, 205])
def test_204_or_205_on_a_reconnect_is_no_content(server, status):
    server.route("/s", resumed_with(lambda r, w: w.body(status, "", content_type="text/event-stream")))
    client = SSEClient(options(url=server.url + "/s", max_retries=5))
    assert len(collect(client)) == 1
    assert client.report.end is EndState.NO_CONTENT and client.report.error is None and len(server.requests) == 2


def test_an_error_status_on_a_reconnect_after_events_is_a_report_not_a_raise(server):
    server.route("/s", resumed_with(lambda r, w: w.body(403, '{"error": "gone"}')))
    client = SSEClient(options(url=server.url + "/s"))
    assert len(collect(client)) == 1
    assert client.report.end is EndState.LOST and "HTTP 403 Forbidden" in client.report.error


def test_503_then_200_is_retried_honouring_retry_after(server):
    def busy_once(request: Request, writer: Writer) -> None:
        if len(server.requests) == 1:
            writer.body(503, '{"error": "busy"}', headers={"Retry-After": "1"})
            return
        writer.send("data: ok\n\n")
        writer.end()

    server.route("/s", busy_once)
    slept: list[float] = []
    client = SSEClient(options(url=server.url + "/s", retry_interval=10), sleep=slept.append)
    assert collect(client) == [("message", "ok", "")]
    assert slept and slept[0] >= 1.0  # Retry-After wins over the 10 ms interval


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_never_retried(server, status):
    server.route("/s", lambda r, w: w.body(status, '{"message": "no"}'))
    with pytest.raises(HTTPStatusError):
        collect(SSEClient(options(url=server.url + "/s", max_retries=5, retry_interval=10)))
    assert len(server.requests) == 1


def test_server_retry_field_sets_the_delay(server):
    def drop_with_retry(request: Request, writer: Writer) -> None:
        writer.send("retry: 50\nid: 1\ndata: a\n\n")
        if len(server.requests) == 1:
            writer.abort()
            return
        writer.end()

    server.route("/s", drop_with_retry)
    slept: list[float] = []
    client = SSEClient(options(url=server.url + "/s", retry_interval=5000), sleep=slept.append)
    collect(client)
    assert len(slept) == 1 and 0.025 <= slept[0] <= 0.05  # 50 ms with jitter, not 5 s


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    slept: list[float] = []
    client = SSEClient(options(url="http://127.0.0.1:9/s", max_retries=6, retry_interval=1000, max_duration=570),
                       sleep=slept.append)
    with pytest.raises(ConnectFailed) as err:
        collect(client)
    assert len(slept) == 6 and "after 6 reconnects" in str(err.value)
    for n, delay in enumerate(slept, 1):
        ceiling = min(30.0, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_retries_never_pass_max_duration():
    slept: list[float] = []
    client = SSEClient(options(url="http://127.0.0.1:9/s", max_retries=20, retry_interval=60000, max_duration=5),
                       sleep=slept.append)
    with pytest.raises(ConnectFailed) as err:
        collect(client)
    assert slept == [] and "max_duration" in str(err.value)


def test_max_duration_ends_an_endless_stream_with_status_timeout(server):
    def endless(request: Request, writer: Writer) -> None:
        n = 0
        while n < 10_000:
            writer.send(f"data: {n}\n\n")
            n += 1
            time.sleep(0.01)
        writer.end()

    server.route("/s", endless)
    chunks, summary = run({"url": server.url + "/s", "max_duration": 1})
    assert summary["status"] == "timeout" and summary["success"] is True
    assert 0 < summary["total_events"] < 10_000
    assert summary["connection_duration"] < 3


def test_max_duration_cuts_a_read_blocked_on_a_silent_server(server):
    def silent(request: Request, writer: Writer) -> None:
        writer.send("data: hello\n\n")
        time.sleep(8)
        writer.end()

    server.route("/s", silent)
    started = time.monotonic()
    chunks, summary = run({"url": server.url + "/s", "max_duration": 1, "read_timeout": 60})
    assert summary["status"] == "timeout" and summary["total_events"] == 1
    assert time.monotonic() - started < 5  # the deadline, not the 60 s read timeout, ended it


def test_silence_past_read_timeout_ends_with_idle_timeout(server):
    def silent(request: Request, writer: Writer) -> None:
        writer.send("data: hello\n\n")
        time.sleep(5)
        writer.end()

    server.route("/s", silent)
    chunks, summary = run({"url": server.url + "/s", "read_timeout": 1, "max_retries": 0})
    assert summary["status"] == "idle_timeout" and summary["total_events"] == 1


def test_keep_alive_comments_keep_a_stream_alive(server):
    server.route("/s", None, "data: a\n\n", *([0.4, ": keep-alive\n\n"] * 6), "data: b\n\n")
    chunks, summary = run({"url": server.url + "/s", "read_timeout": 1, "max_retries": 0})
    assert summary["status"] == "completed" and summary["total_events"] == 2


def test_503_every_time_fails_naming_the_status_after_the_retries(server):
    server.route("/s", lambda r, w: w.body(503, '{"error": "still busy"}'))
    client = SSEClient(options(url=server.url + "/s", max_retries=2, retry_interval=10), sleep=lambda s: None)
    with pytest.raises(ConnectFailed) as err:
        collect(client)
    assert str(err.value).startswith("HTTP 503 Service Unavailable") and "still busy" in str(err.value)
    assert str(err.value).endswith("after 2 reconnects") and len(server.requests) == 3
