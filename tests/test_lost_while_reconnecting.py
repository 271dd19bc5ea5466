"""A stream lost while reconnecting fails the run whichever limit stops the reconnects (max_retries or
max_duration), through the plugin runtime (``python -m main`` as the daemon starts it)."""

from __future__ import annotations

import time

import pytest

from devkit.plugin_runner import error_of, summary_of, texts
from devkit.sse_server import Request, Writer


def lost_after_one_event(server, path: str, reconnect) -> tuple[str, list[float]]:
    """A GET stream that gives an event id (so it may be resumed) and breaks; every reconnect is
    answered by ``reconnect(writer)``. Returns the URL and the time of each request."""
    attempts: list[float] = []

    def route(request: Request, writer: Writer) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            writer.start()
            writer.send("id: 1\ndata: a\n\n")
            time.sleep(0.3)
            writer.abort()
            return
        reconnect(writer)

    server.route(path, route)
    return server.url + path, attempts


@pytest.mark.parametrize(("max_duration", "max_retries"), [(3, 10), (60, 2)],
                         ids=["max_duration-first", "max_retries-first"])
def test_a_raw_stream_lost_while_reconnecting_fails_whichever_limit_comes_first(plugin, server, max_duration,
                                                                                max_retries):
    """A raw stream is complete when *its sample* is cut by max_duration; a stream that was lost and
    could not be resumed is not, whether max_retries or max_duration stopped the reconnects."""
    url, attempts = lost_after_one_event(server, "/down", lambda w: w.body(503, "down", "text/plain"))
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "max_duration": max_duration,
                                                          "max_retries": max_retries, "retry_interval": 1000}))
    assert "".join(texts(frames)) == "a\n"
    error = error_of(frames)
    assert error is not None and error["error_type"] == "IncompleteRun", summary_of(frames)
    assert error["message"].startswith("Failed (connection_lost):") and "HTTP 503" in error["message"]
    assert len(attempts) >= 2  # it did try to resume


def test_a_raw_stream_whose_reconnect_hangs_until_max_duration_fails_as_lost(plugin, server):
    """The reconnect is answered by silence until max_duration: the stream was lost, not sampled."""
    url, attempts = lost_after_one_event(server, "/hang", lambda w: time.sleep(6))  # no answer before the deadline
    frames = plugin.collect(plugin.invoke("sse_request", {"url": url, "max_duration": 2,
                                                          "read_timeout": 60, "retry_interval": 100}))
    error = error_of(frames)
    assert error is not None and error["error_type"] == "IncompleteRun", summary_of(frames)
    assert error["message"].startswith("Failed (connection_lost):") and "max_duration (2 s)" in error["message"]
    assert len(attempts) == 2
