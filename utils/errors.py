"""The errors of a run. Each message is one line, says what went wrong, and holds no secret."""

from __future__ import annotations

import re

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def count_events(n: int) -> str:
    """``n`` with the word event, as a sentence says it: "1 event", "3 events"."""
    return f"{n} event" if n == 1 else f"{n} events"


def one_line(text: str) -> str:
    """``text`` with every line break and control character (which a quoted value may carry) folded
    into one space: an error is read as one line in Dify's node, a log and the daemon's frame."""
    return _LINE_BREAKS.sub(" ", text)


class SSERequestError(Exception):
    """Base class: a run that cannot go on. ``str(error)`` is the one line a user sees, whatever the
    message was built from (line breaks and control characters are folded here, once for all)."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(one_line(str(message)), *args)


class InvalidParameter(SSERequestError):
    """A parameter's value is not what it should be; raised before any connection."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"Invalid parameter '{name}': {problem}")
        self.name = name


class BlockedAddress(SSERequestError):
    """The network policy refuses the target (or a redirect hop, or a resolved address)."""


class ConnectFailed(SSERequestError):
    """The connection could not be made or was lost, and no retry was allowed or left."""


class HTTPStatusError(SSERequestError):
    """The server answered with a status the client cannot use (any but 200 for an event stream)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        detail = f": {body}" if body else ""
        super().__init__(f"HTTP {status} {reason}{detail}".rstrip())
        self.status = status


class BadBody(SSERequestError):
    """The response body cannot be decoded: a corrupt compressed body, or a Content-Encoding the
    client did not ask for (it accepts gzip and deflate only)."""


class NotEventStream(SSERequestError):
    """The response is not ``text/event-stream``."""


class StreamReportedError(SSERequestError):
    """The stream itself reported a failure (an ``error`` event, a failed workflow, ...)."""
