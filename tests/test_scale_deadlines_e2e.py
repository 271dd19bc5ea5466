"""max_duration with many runs in one plugin process (issue 19: one thread serves every deadline):
runs whose deadlines are earlier than ones already waiting end on time, and many short runs beside
them change nothing."""

from __future__ import annotations

import threading
import time

from devkit.plugin_runner import error_of, summary_of
from devkit.sse_server import Request, Writer


def _silent(request: Request, writer: Writer) -> None:
    writer.send("data: first\n\n")
    time.sleep(12)  # a blocked read on the plugin's side


def _trickling_headers(request: Request, writer: Writer) -> None:
    """Headers a byte at a time: every read returns within the read timeout, and no event comes,
    so only the run's deadline can end it."""
    wire = writer._h.wfile
    try:
        wire.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        wire.flush()
        for _ in range(60):
            time.sleep(0.2)
            wire.write(b"a")
            wire.flush()
    except OSError:
        pass
    writer._h.close_connection = True


def _ticking(request: Request, writer: Writer) -> None:
    try:
        for n in range(120):
            writer.send(f"data: {n}\n\n")
            time.sleep(0.1)
    except OSError:
        pass


def test_earlier_deadlines_and_many_short_runs_in_one_process(plugin, server):
    server.route("/silent", _silent)
    server.route("/ticking", _ticking)
    server.route("/trickle", _trickling_headers)
    server.route("/short", None, "data: a\n\n", "data: b\n\n")
    ended: dict[str, float] = {}
    summaries: dict[str, dict] = {}

    def follow(session: str) -> None:
        frames = plugin.collect(session, timeout=60)
        ended[session] = time.monotonic()
        summaries[session] = summary_of(frames) or {"error": error_of(frames)}

    def start(path: str, max_duration: float | None) -> tuple[str, float]:
        params = {"url": server.url + path}
        if max_duration is not None:
            params["max_duration"] = max_duration
        session = plugin.invoke("sse_request", params)
        threading.Thread(target=follow, args=(session,), daemon=True).start()
        return session, time.monotonic()

    late = [start(path, 6) for path in ("/silent", "/trickle") * 8]  # deadlines already waiting
    time.sleep(1)  # the deadline thread sleeps towards the first of them
    early = [start(path, 2) for path in ("/silent", "/ticking", "/trickle") * 7]  # earlier than those
    short = [start("/short", None)[0] for _ in range(60)]  # armed and cancelled beside them
    deadline = time.monotonic() + 60
    while len(ended) < len(late) + len(early) + len(short) and time.monotonic() < deadline:
        time.sleep(0.1)

    def timed_out(session: str) -> bool:  # a stream ends with status timeout; headers never ended, with an error
        outcome = summaries[session]
        return outcome.get("status") == "timeout" or "max_duration" in str(outcome.get("error"))

    for session, started in early:
        assert timed_out(session), summaries[session]
        assert 1.9 <= ended[session] - started <= 3.5, ended[session] - started
    for session, started in late:
        assert timed_out(session), summaries[session]
        assert 5.9 <= ended[session] - started <= 7.5, ended[session] - started
    assert all(summaries[s]["status"] == "completed" for s in short)
