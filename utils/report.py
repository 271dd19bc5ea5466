"""How a client's part of a run ended: the frozen report a client hands ``StreamRun``.

The client says how the *transport* ended (``EndState``); whether the run is *complete* is decided
by the run, which combines this with what the format saw (its end marker).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EndState(StrEnum):
    """Why the client stopped yielding events. Values are the summary's ``status`` words."""

    COMPLETED = "completed"  # the server ended the body cleanly, or the run said it had all it needs
    NO_CONTENT = "no_content"  # 204/205 on a reconnect: the server's "stop"
    TIMEOUT = "timeout"  # max_duration passed
    IDLE_TIMEOUT = "idle_timeout"  # silence past read_timeout after events, and no way to resume
    MAX_STREAM_BYTES = "max_stream_bytes"  # max_stream_mb of decoded bytes
    LOST = "connection_lost"  # the connection broke after events and could not be resumed


@dataclass(frozen=True, slots=True)
class StreamReport:
    """The client's figures at the end of a run (``utils/sse_client.py``, ``utils/json_client.py``).

    ``bytes_received`` counts decoded bytes (after Content-Encoding); ``elapsed`` is in seconds from
    the first byte sent; ``last_event_id`` is the WHATWG last event ID string. ``error`` is one
    masked line saying why for LOST, IDLE_TIMEOUT, TIMEOUT and MAX_STREAM_BYTES ends, None for
    COMPLETED and NO_CONTENT. A failure before any event was delivered raises instead."""

    end: EndState
    http_status: int | None
    reconnects: int
    bytes_received: int
    events_received: int
    last_event_id: str
    elapsed: float
    error: str | None = None
