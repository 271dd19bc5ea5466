"""What the end of a run means: its status, whether it is complete, and the one line saying why not.

The one definition of a complete run (issue 12), applied by ``StreamRun`` and nowhere else:

- a format with an end marker is complete once it saw it (``StreamFormat.complete``:
  ``finish_reason`` / ``response.completed`` / ``message_stop`` / ``finishReason`` /
  ``message_end`` or ``workflow_finished``, or ``[DONE]`` told through ``fmt.done()``), however
  the transport ended afterwards;
- ``raw`` has no end marker: it is complete when the server ended the stream cleanly (``completed``,
  ``no_content``), on ``[DONE]``, or when the user's own bounds ended it (``stop_on``,
  ``max_events``, ``max_duration``: a raw stream sampled for a while is a normal use).

``success`` is true exactly for a complete run whose stream reported no error. Anything else is
incomplete: ``success`` false, a one-line ``error`` naming why, and (with ``fail_on_stream_error``)
a failed node, raised after everything that arrived was streamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from utils.errors import SSERequestError


class RunStatus(StrEnum):
    """The summary's ``status``: how the run ended. The words are an interface (workflows branch on them)."""

    COMPLETED = "completed"  # the stream ended: the server closed it cleanly, or [DONE] came
    STOPPED = "stopped"  # a ``stop_on`` event type or data value came
    MAX_EVENTS = "max_events"  # ``max_events`` events were counted
    TIMEOUT = "timeout"  # ``max_duration`` passed
    IDLE_TIMEOUT = "idle_timeout"  # silence past ``read_timeout`` after events, and no way to resume
    MAX_STREAM_BYTES = "max_stream_bytes"  # ``max_stream_mb`` of decoded bytes were read
    EVENT_TOO_LARGE = "event_too_large"  # an event the answer needs passed ``max_event_kb``
    NO_CONTENT = "no_content"  # HTTP 204/205 on a reconnect: the server's "stop"
    CONNECTION_LOST = "connection_lost"  # the connection broke after events and could not be resumed
    INCOMPLETE = "incomplete"  # the server closed the stream cleanly before the format's end marker
    ERROR = "error"  # the stream itself reported a failure (an error event, a failed workflow...)


CLEAN_ENDS = frozenset({RunStatus.COMPLETED, RunStatus.NO_CONTENT})  # the server's own end
USER_BOUNDS = frozenset({RunStatus.STOPPED, RunStatus.MAX_EVENTS, RunStatus.TIMEOUT})  # raw: a sample

# Ends whose cause only the transport (or the run's event check) can tell: their own line is kept.
TRANSPORT_KNOWS_WHY = frozenset({RunStatus.IDLE_TIMEOUT, RunStatus.CONNECTION_LOST, RunStatus.EVENT_TOO_LARGE})

# What each format's end marker is, for the error line (``fmt.name`` -> words a user recognises).
END_MARKERS = {
    "openai": "finish_reason or response.completed",
    "anthropic": "message_stop",
    "gemini": "finishReason",
    "dify": "message_end or workflow_finished",
    "dashscope": "finish_reason",
}


class IncompleteRun(SSERequestError):
    """The run ended before the whole answer arrived (truncated, cut by a limit or a timeout,
    connection lost, an event too large for ``max_event_kb``). Raised after the last chunk."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: RunStatus
    complete: bool
    error: str | None = None  # one line: why the run is no success (None exactly when it is one)

    @property
    def success(self) -> bool:
        return self.complete and self.error is None


def _why(end: RunStatus, marker: str, bounds: dict[str, float]) -> str:
    before = f"before the stream's end marker ({marker})" if marker else "before the stream ended"
    match end:
        case RunStatus.INCOMPLETE | RunStatus.COMPLETED:
            return f"the server closed the stream {before}"
        case RunStatus.TIMEOUT:
            return f"max_duration ({bounds.get('max_duration', 0):g} s) ended the run {before}"
        case RunStatus.IDLE_TIMEOUT:
            return f"no data for read_timeout ({bounds.get('read_timeout', 0):g} s) {before}"
        case RunStatus.MAX_STREAM_BYTES:
            return f"max_stream_mb ({bounds.get('max_stream_mb', 0):g} MiB) was reached {before}"
        case RunStatus.MAX_EVENTS:
            return f"max_events ({bounds.get('max_events', 0):g}) was reached {before}"
        case RunStatus.STOPPED:
            return f"stop_on ended the run {before}"
        case RunStatus.EVENT_TOO_LARGE:
            return f"an event passed max_event_kb ({bounds.get('max_event_kb', 0):g} KiB) {before}"
        case RunStatus.NO_CONTENT:
            return f"the server answered a reconnect with 204 No Content {before}"
        case _:
            return f"the connection was lost {before}"


def decide(end: RunStatus, *, format_name: str, format_complete: bool, has_end_marker: bool = True,
           stream_error: str | None = None,
           end_error: str | None = None, bounds: dict[str, float] | None = None,
           format_verdict: tuple[bool, str | None] | None = None) -> Outcome:
    """The outcome of a run from how it ended and what its format saw.

    ``end``: how reading stopped (the run's own stops: completed on [DONE], stopped, max_events,
    event_too_large; else the transport's ``EndState``, same words). ``format_complete``: the
    format saw its end marker; ``has_end_marker``: the format has one at all (raw and text_path
    have none). ``stream_error``: a failure the stream reported. ``end_error``: the
    transport's or the run's one line for an unclean end (connection lost, event too large...).
    ``bounds``: the user's limits, named as the parameters are, for the error line.
    ``format_verdict``: the format's own (success, why) when it has one (Dify's ``result.success``:
    a workflow that finished with a status other than succeeded is no success either).
    """
    bounds = bounds or {}
    if stream_error and not stream_error.strip():  # {"error": {"message": " "}}: still a failure, and it says so
        stream_error = "the server reported an error without a message"
    if stream_error:
        return Outcome(RunStatus.ERROR if end in CLEAN_ENDS else end, format_complete, stream_error)
    if not has_end_marker:  # raw, a user's text_path
        complete = format_complete or end in CLEAN_ENDS or end in USER_BOUNDS
        marker = ""
    else:
        complete = format_complete
        marker = END_MARKERS.get(format_name, "its end marker")
    if complete and format_verdict is not None and not format_verdict[0]:
        return Outcome(RunStatus.INCOMPLETE if end in CLEAN_ENDS else end, False,
                       format_verdict[1] or "the app did not finish with success")
    if complete:
        return Outcome(end, True)
    if end == RunStatus.COMPLETED:
        end = RunStatus.INCOMPLETE
    error = (end_error if end_error and end in TRANSPORT_KNOWS_WHY else None) or _why(end, marker, bounds)
    return Outcome(end, False, error)
