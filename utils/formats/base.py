"""What every stream format is: events in, text deltas out, and an aggregate at the end."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from httpx_sse import ServerSentEvent

logger = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 500_000  # the answer kept for the summary (a bounded JSON line); the stream is not cut
MAX_REASONING_CHARS = 500_000  # the reasoning kept, and the reasoning waiting for pop_reasoning(), each
MAX_TOOL_CALLS = 64  # tool / function calls kept in a format's result
MAX_RESULT_DEPTH = 64  # levels of JSON nesting kept in a result
MAX_CHOICES = 8  # choices (candidates) other than the first kept in the result (n > 1)
MAX_CHOICE_CHARS = 64 * 1024  # text kept for each of them
MAX_INVALID_SAMPLES = 5  # raw snippets of events that should have been JSON and were not
MAX_SAMPLE_CHARS = 200

# Events are parsed with NaN / Infinity (which Python's json accepts, and no JSON parser of the
# daemon does) read as null, so that nothing non-finite ever reaches an output.
_DECODER = json.JSONDecoder(parse_constant=lambda name: None)
parse_json = _DECODER.decode


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    total_price: float | None = None
    currency: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class FormatResult:
    answer: str = ""
    answer_truncated: bool = False
    usage: Usage = field(default_factory=Usage)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a failure the stream itself reported
    complete: bool = False  # the format saw its stream's end marker (see StreamFormat.complete)
    reasoning: str = ""  # reasoning / thinking text, never part of the answer
    invalid_events: int = 0
    invalid_samples: list[str] = field(default_factory=list)


def to_int(value: Any) -> int | None:
    """A token count as servers send it (int, float or digit string); None when absent or odd."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, 1e999
        return None


def to_float(value: Any) -> float | None:
    """A price as servers send it (Dify sends decimal strings such as "0.0001650")."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None  # NaN and infinities are no JSON numbers


def scalar(value: Any) -> Any:
    """A value kept in a result as an identifier or a status: JSON scalars only, else None."""
    return value if isinstance(value, (str, int, float, bool)) or value is None else None


def bounded_depth(value: Any, depth: int = 0) -> Any:
    """``value`` with anything nested deeper than ``MAX_RESULT_DEPTH`` replaced by a marker: a
    result holds JSON from the stream, and the summary that wraps it must serialize (Python's
    encoder stops near 1000 levels)."""
    if isinstance(value, dict):
        if depth >= MAX_RESULT_DEPTH:
            return "…[nested too deep]"
        return {key: bounded_depth(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        if depth >= MAX_RESULT_DEPTH:
            return "…[nested too deep]"
        return [bounded_depth(item, depth + 1) for item in value]
    return value


# Event types that are keep-alives whatever their data (older sse-starlette: `event: ping` with a
# timestamp; Anthropic: `event: ping` with {"type": "ping"}; Dify: `event: ping` with no data).
KEEPALIVE_TYPES = frozenset({"ping", "keepalive", "keep-alive", "keep_alive", "heartbeat"})
# Words a keep-alive comment starts with, when a proxy re-wrapped the comment as data (`data: : ping`).
KEEPALIVE_WORDS = ("ping", "keepalive", "keep-alive", "keep_alive", "heartbeat", "openrouter processing")
# Members a JSON keep-alive may carry besides its type: {"type": "ping"}, {"event": "ping", "ts": ...}.
KEEPALIVE_KEYS = frozenset({"type", "event", "timestamp", "time", "ts"})
KEEPALIVE_MAX_CHARS = 80  # longer data carries something; the checks below never parse more


def is_keepalive(event: ServerSentEvent) -> bool:
    """Whether ``event`` is a keep-alive: it carries nothing for anyone (issue 11, fault 1).

    A keep-alive is (1) an event whose type is a ping name (``KEEPALIVE_TYPES``), whatever its
    data; (2) a default-type (``message``) event with empty data (WHATWG dispatches ``data:`` with
    an empty value; a *named* event with empty data is a signal, e.g. ``event: done``, and is kept);
    (3) a comment a proxy re-wrapped as data: ``:`` alone or ``:`` then a keep-alive word;
    (4) a short JSON object whose ``type`` or ``event`` is a ping name and which holds nothing but
    that and a time stamp (Anthropic's ``{"type": "ping"}``). Whitespace-only data is not a
    keep-alive: a raw text stream may send a space or a line end as a token.
    The run drops keep-alives before anything else: they never decide the format, are never
    counted, kept, shown, nor counted as invalid. Cheap: only short data is looked into.
    """
    if event.event in KEEPALIVE_TYPES:
        return True
    data = event.data
    if not data:
        return event.event == "message"
    if len(data) > KEEPALIVE_MAX_CHARS:
        return False
    first = data[0]
    if first == ":":
        rest = data[1:].strip().lower()
        return not rest or rest.startswith(KEEPALIVE_WORDS)
    if first == "{":
        try:
            obj = json.loads(data)
        except ValueError:
            return False
        if not isinstance(obj, dict) or not KEEPALIVE_KEYS.issuperset(obj):
            return False
        kind, name = obj.get("type"), obj.get("event")  # any JSON value: a list or an object is no name
        return (isinstance(kind, str) and kind in KEEPALIVE_TYPES) or (isinstance(name, str) and name in KEEPALIVE_TYPES)
    return False


def text_of(value: Any) -> str:
    """``value`` when it is a string, else "": a field that should hold text but holds another type
    gives no text (never a crash, never JSON shown as text)."""
    return value if isinstance(value, str) else ""


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


_HEAD_FIELDS = {key: re.compile(rf'"{key}"\s*:\s*"([^"\\]{{1,64}})"') for key in ("event", "type")}


def head_name(event: ServerSentEvent, key: str = "type") -> str:
    """The first string value of ``key`` (``"type"`` or ``"event"``) in an event's data, read from
    its head only: an ``OversizedEvent`` carries the first ``HEAD_CHARS`` characters of its data,
    which are no JSON document. "" when there is none."""
    match = _HEAD_FIELDS[key].search(event.data)
    return match.group(1) if match else ""


class Choices:
    """The parallel answers of one stream (Chat Completions ``n`` > 1, Gemini ``candidateCount``):
    which of them have finished, and the text and finish reason of all but the first, bounded
    (``MAX_CHOICES`` kept, ``MAX_CHOICE_CHARS`` of text each; ``dropped`` counts the others)."""

    __slots__ = ("dropped", "finished", "others")

    def __init__(self) -> None:
        self.finished: dict[Any, Any] = {}  # index -> finish reason (None while open)
        self.others: dict[Any, dict[str, Any]] = {}
        self.dropped = 0

    def finish(self, index: Any, reason: Any) -> bool:
        """Records a choice's finish reason; True once every choice seen has one."""
        self.finished[index] = reason or self.finished.get(index)
        return bool(reason) and all(self.finished.values())

    def add(self, index: Any, text: str, reason: Any) -> None:
        """Text and finish reason of a choice other than the first."""
        record = self.others.get(index)
        if record is None:
            if len(self.others) >= MAX_CHOICES:
                self.dropped += 1
                return
            record = self.others[index] = {"index": index, "content": [], "chars": 0, "finish_reason": None}
        if reason:
            record["finish_reason"] = reason
        if text and record["chars"] < MAX_CHOICE_CHARS:
            record["content"].append(text)
            record["chars"] += len(text)

    def report(self, result: dict[str, Any], key: str) -> None:
        """Puts the other choices in ``result[key]`` (and ``result[key + "_dropped"]``), if any."""
        if self.others:
            result[key] = [{"index": r["index"], "content": "".join(r["content"]),
                            "finish_reason": r["finish_reason"]} for r in self.others.values()]
        if self.dropped:
            result[key + "_dropped"] = self.dropped


class StreamFormat:
    """Base class. ``feed`` is on the hot path: it runs once per event and must stay cheap.

    ``complete`` turns true when the format has seen its stream's own end marker (``[DONE]`` is
    told by the run through ``done()``); after that a broken connection loses nothing. A stream
    that reports an error in its own terms (an ``error`` event, a failed workflow) has ended too:
    it is complete, and ``error`` says what went wrong.
    ``pop_reasoning()`` returns the reasoning text received since its last call (for live
    reasoning); the whole reasoning ends in ``FormatResult.reasoning``, never in the answer.
    ``has_end_marker``: whether the dialect has an end marker at all. Without one (raw, a user's
    ``text_path``) a run is complete when the server ends the stream cleanly or the user's own
    bounds end it (``utils/outcome.py``).
    """

    name = "raw"
    complete = False
    has_end_marker = True

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._answer_chars = 0
        self.answer_truncated = False
        self.error: str | None = None
        self.invalid_events = 0
        self.invalid_samples: list[str] = []
        self._reasoning: list[str] = []
        self._reasoning_chars = 0
        self._pending: list[str] = []  # reasoning not yet popped
        self._pending_chars = 0

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        """Returns (the event's type as this format names it, the text to stream now)."""
        raise NotImplementedError

    def done(self) -> None:
        """The stream sent ``[DONE]``: OpenAI's end marker, which never reaches ``feed``."""
        self.complete = True

    def needs(self, event: ServerSentEvent) -> bool:
        """Whether an oversized event (an ``OversizedEvent``: only the head of its data) would have
        carried answer text or the stream's end. True fails the run; False skips it and the run goes
        on. Unknown events are needed; subclasses name the ones they can do without."""
        return event.event not in KEEPALIVE_TYPES

    def pop_reasoning(self) -> str:
        """Reasoning text received since the last call ("" when none). What waits for a call is
        bounded (``MAX_REASONING_CHARS``): a run that never pops loses nothing of the kept whole."""
        if not self._pending:
            return ""
        text = "".join(self._pending)
        self._pending = []
        self._pending_chars = 0
        return text

    def _reason(self, text: str) -> None:
        """Adds reasoning text (kept for the result, and waiting for ``pop_reasoning``), bounded."""
        if not text:
            return
        if self._reasoning_chars < MAX_REASONING_CHARS:
            self._reasoning.append(text)
            self._reasoning_chars += len(text)
        if self._pending_chars < MAX_REASONING_CHARS:
            self._pending.append(text)
            self._pending_chars += len(text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)[:MAX_REASONING_CHARS]

    def _keep(self, text: str) -> None:
        """Adds streamed text to the answer kept for the summary, up to a bound."""
        if self._answer_chars < MAX_ANSWER_CHARS:
            self._parts.append(text)
            self._answer_chars += len(text)
        elif text:
            self.answer_truncated = True

    def _replace(self, text: str) -> None:
        self._parts = []
        self._answer_chars = 0
        self._keep(text)

    def _json(self, data: str) -> dict[str, Any] | None:
        """The event's data as a JSON object, or None: an empty data (a keep-alive) silently, anything
        else that is not a JSON object counted as invalid and skipped (never fatal)."""
        if not data:
            return None
        try:
            value = parse_json(data)
        except ValueError as exc:
            self._invalid(data, f"not JSON: {exc.msg} (char {exc.pos})")
            return None
        except RecursionError:  # JSON nested deeper than Python's parser goes (issue 18, point 8)
            self._invalid(data, "JSON nested too deep")
            return None
        if not isinstance(value, dict):
            self._invalid(data, f"JSON {type(value).__name__}, not an object")
            return None
        return value

    def _invalid(self, data: str, why: str) -> None:
        """Counts an event that should have been JSON; keeps the first few snippets (the run masks
        secrets in them) and logs a warning without the data itself, which may hold anything."""
        self.invalid_events += 1
        if len(self.invalid_samples) < MAX_INVALID_SAMPLES:
            sample = data if len(data) <= MAX_SAMPLE_CHARS else data[:MAX_SAMPLE_CHARS] + "…"
            self.invalid_samples.append(sample)
            logger.warning("%s stream: skipped event %d, whose data is %s (%d chars)", self.name,
                           self.invalid_events, why, len(data))

    @property
    def answer(self) -> str:
        text = "".join(self._parts)
        if len(text) > MAX_ANSWER_CHARS:
            self.answer_truncated = True
            text = text[:MAX_ANSWER_CHARS]
        return text

    def usage(self) -> Usage:
        return Usage()

    def result(self) -> dict[str, Any]:
        return {}

    def finish(self) -> FormatResult:
        if self.invalid_events > MAX_INVALID_SAMPLES:
            logger.warning("%s stream: %d events in all were skipped as invalid JSON", self.name,
                           self.invalid_events)
        result = bounded_depth(self.result())
        return FormatResult(answer=self.answer, answer_truncated=self.answer_truncated, usage=self.usage(),
                            result=result, error=self.error, complete=self.complete, reasoning=self.reasoning,
                            invalid_events=self.invalid_events, invalid_samples=list(self.invalid_samples))


class JSONFormat(StreamFormat):
    """A format whose events carry JSON objects. ``on_json`` sees each parsed object; data that is
    not a JSON object, or a JSON object of a shape the format cannot read, is skipped and counted."""

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        obj = self._json(event.data)
        if obj is None:
            return ("invalid" if event.data else event.event), ""
        try:
            return self.on_json(event, obj)
        except (AttributeError, TypeError, IndexError, KeyError, ValueError, RecursionError) as exc:
            self._invalid(event.data, f"JSON of an unexpected shape ({type(exc).__name__})")
            return "invalid", ""

    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        raise NotImplementedError


class RawFormat(StreamFormat):
    """Any event stream: the text of an event is its data, one line per event."""

    name = "raw"
    has_end_marker = False

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        text = event.data + "\n"
        self._keep(text)
        return event.event, text
