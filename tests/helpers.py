"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from devkit.sse_server import Request, Route, Writer
from utils.errors import SSERequestError
from utils.network_policy import NetworkPolicy
from utils.request_options import RequestOptions, build_request_options
from utils.sse_client import SSEClient
from utils.stream_run import StreamRun


def options(**params: Any) -> RequestOptions:
    return build_request_options(params)


def collect(client: SSEClient) -> list[tuple[str, str, str]]:
    return [(e.event, e.data, e.id) for batch in client.stream() for e in batch]


def run(params: dict[str, Any], policy: NetworkPolicy | None = None, **client_kw: Any):
    """Runs the whole path (client, format, summary); returns (chunks, summary dict). A run that
    fails at its end (incomplete, or a reported error: the summary is set, then it raises) gives
    its summary too, with the raised error's one line under the key ``raised``."""
    opts = build_request_options(params)
    stream_run = StreamRun(opts, client=SSEClient(opts, policy, **client_kw))
    chunks: list = []
    try:
        for chunk in stream_run.chunks():
            chunks.append(chunk)
    except SSERequestError as exc:
        if stream_run.summary is None:
            raise
        return chunks, {**stream_run.summary.as_dict(), "raised": str(exc)}
    return chunks, stream_run.summary.as_dict()


def resumable(last: int, drop_after: int, data: str = "event {n}") -> Route:
    """A route that sends events with ids 1..last, drops the connection after id ``drop_after`` on
    the first request, and on a reconnect resumes after the Last-Event-ID it receives."""

    def route(request: Request, writer: Writer) -> None:
        resume = int(request.headers.get("last-event-id") or 0)
        writer.start()
        writer.send("retry: 10\n\n")
        for n in range(resume + 1, last + 1):
            writer.send(f"id: {n}\ndata: {data.format(n=n)}\n\n")
            if n == drop_after and resume == 0:
                writer.abort()
                return
        writer.end()

    return route
