"""The WHATWG event-stream decoder: bytes in, events out, no I/O.

Rules R1-R17 of ``../shared/research/sse_anchors.md`` (HTML §9.2.6 "Interpreting an event stream"):
UTF-8 always (one leading BOM stripped, invalid bytes become U+FFFD), CR / LF / CRLF line ends even
when split across chunks, comments ignored, one leading space stripped from values, no event for a
block without ``data``, the last event ID buffer set by ``id`` unless its value holds NUL and copied
to the last event ID string at every dispatch, ``retry`` only for ASCII digits (applied at once),
and an unterminated final block is never dispatched.

Limits (``max_event_bytes``, 0 = none), ours, not the spec's: an event's size is its data buffer as
WHATWG builds it (the values joined by LF) in UTF-8 bytes (an invalid byte, become U+FFFD, counts
3). An event of exactly ``max_event_bytes`` is dispatched as usual; a larger one is dispatched as an
``OversizedEvent``. A line of any other field longer than ``max_event_bytes`` is ignored, as an
``id`` with NUL is: no real type, id or reconnection time is that long, and an id is sent back as a
``Last-Event-ID`` header. What is kept between chunks stays under max(limit, 4 KiB) + a few bytes,
whatever arrives; the rest of an over-long line is dropped as it comes (only its size is counted).

Work is per chunk, not per byte: a chunk's complete lines are decoded in one call, a leading run of
one-line ``data: `` events (the usual LLM stream) is cut with one ``split``, other short lines with
one ``split``, and a few long lines (64 KiB events) with ``find`` (memchr); bytes of an unfinished
line wait in a list, joined once when the line completes, so long lines cost O(n).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from typing import Literal

from httpx_sse import ServerSentEvent

_BOM = b"\xef\xbb\xbf"
_SHORT = 16  # line ends in a chunk's first 4 KiB from which its lines are cut with split (else find)


class OversizedEvent(ServerSentEvent):
    """An event whose data passed the decoder's size limit, dispatched in its place: its type and
    id, only the first ``HEAD_CHARS`` characters of its data (enough for a format to tell what kind
    of event it was), and ``size``, the bytes of data the whole event had (as the limit counts them).
    The rest of its data was dropped as it arrived; decoding goes on after it."""

    HEAD_CHARS = 1024

    def __init__(self, event: str | None, head: str, id: str | None, size: int) -> None:
        super().__init__(event, head, id, None)
        self.size = size


class SSEDecoder:
    """Incremental decoder. ``feed(chunk)`` returns the events completed by that chunk.

    ``last_event_id`` (the WHATWG last event ID string: it changes at dispatch only) and ``retry``
    (the reconnection time in ms, or None) outlive a connection; call ``new_stream()`` when a new
    response body starts.
    """

    __slots__ = ("_cap", "_data", "_event_type", "_id_buffer", "_max", "_pending",
                 "_pending_size", "_size", "_skip", "_skip_lf", "_start", "last_event_id", "retry")

    def __init__(self, max_event_bytes: int = 0) -> None:
        self._max = max_event_bytes
        # the longest unfinished line kept whole: past it, a data line's value holds more than the
        # limit and HEAD_CHARS whole characters (<= 4 bytes each), so the event's fate and head are known
        self._cap = max(max_event_bytes, 4 * OversizedEvent.HEAD_CHARS) + 6
        self.last_event_id = ""
        self.retry: int | None = None
        self._id_buffer = ""
        self.new_stream()

    def new_stream(self) -> None:
        """Forget everything that belongs to one response body; an ``id`` read but never dispatched
        is forgotten too (the buffer restarts from the string, as Chromium's parser does)."""
        self._pending: list[bytes | memoryview] = []  # bytes of the line being received
        self._pending_size = 0
        # dropping the rest of an over-long line: a data line's decoder (to count its size), or False
        self._skip: codecs.IncrementalDecoder | Literal[False] | None = None
        self._skip_lf = False  # the previous chunk ended in CR: a LF now completes a CRLF
        self._start: bytes | None = b""  # bytes held while a leading BOM is undecided
        self._id_buffer = self.last_event_id
        self._event_type = ""
        self._data: list[str] = []
        self._size = 0  # bytes of the data buffer, each value's LF included

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events (``ServerSentEvent``, or ``OversizedEvent`` past the limit) whose blank line is
        in ``chunk``, in order; [] until one is. Never raises, whatever the bytes."""
        if self._start is not None:  # R2: strip one BOM at the very start of the stream
            chunk = self._start + chunk
            if len(chunk) < 3 and _BOM.startswith(chunk):
                self._start = chunk
                return []
            self._start = None
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
        if self._skip_lf and chunk:  # R3: the LF of a CRLF split across chunks
            self._skip_lf = False
            if chunk[0] == 10:
                chunk = chunk[1:]
        if not chunk:
            return []
        if b"\r" in chunk:
            self._skip_lf = chunk[-1] == 13  # a final CR ends its line now, not later
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._skip is not None:  # the rest of an over-long line, dropped as it comes
            end = chunk.find(b"\n")
            if self._skip:  # a data line: only its size is kept
                self._size += _utf8_len(self._skip.decode(chunk if end < 0 else chunk[:end], end >= 0))
            if end < 0:
                return []
            self._skip = None
            chunk = chunk[end + 1 :]
            if not chunk:
                return []
        events: list[ServerSentEvent] = []
        end = chunk.rfind(b"\n")
        if end < 0:
            self._pending.append(chunk)
            self._pending_size += len(chunk)
        else:
            # R1: a line end never falls inside a UTF-8 sequence, so complete lines decode alone.
            if self._pending:
                self._lines(str(b"".join([*self._pending, memoryview(chunk)[:end]]), "utf-8", "replace"), events)
            else:
                self._lines(str(memoryview(chunk)[:end], "utf-8", "replace"), events)
            rest = memoryview(chunk)[end + 1 :]
            self._pending = [rest] if rest else []
            self._pending_size = len(rest)
        if self._max and self._pending_size > self._cap:
            self._overflow()
        return events

    def _lines(self, text: str, events: list[ServerSentEvent]) -> None:
        """The lines of ``text`` (complete lines joined by LF), in order."""
        start, limit = 0, self._max
        short = text.count("\n", 0, 4096) >= _SHORT  # many short lines, else a few long ones (64 KiB events)
        if short and not self._data and not self._event_type and text[:6] == "data: ":
            start = self._plain_run(text, events)
        if short:
            lines: Iterable[str] = text[start:].split("\n") if start else text.split("\n")
        else:
            lines = _cut(text)
        data = self._data
        for line in lines:
            if not line:  # R5, R14: dispatch
                self.last_event_id = self._id_buffer
                if data:
                    value = "\n".join(data)
                    if limit and self._size > limit + 1:  # C1
                        value = value[: OversizedEvent.HEAD_CHARS]
                        events.append(OversizedEvent(self._event_type, value, self.last_event_id, self._size - 1))
                    else:
                        events.append(ServerSentEvent(self._event_type, value, self.last_event_id, None))
                    data.clear()
                    self._size = 0
                self._event_type = ""
            elif line[:6] == "data: ":  # R7, R11 in one step
                self._add(line[6:])
            else:
                name, _, value = line.partition(":")  # R7, R8; a comment's name is "" (R6)
                if value[:1] == " ":
                    value = value[1:]
                if name == "data":  # R11
                    self._add(value)
                elif limit and _utf8_len(line) > limit:
                    pass  # an over-long line of another field is ignored (see the module's docstring)
                elif name == "event":  # R10
                    self._event_type = value
                elif name == "id":  # R12: the last event ID buffer
                    if "\0" not in value:
                        self._id_buffer = value
                elif name == "retry" and value.isdigit() and value.isascii():  # R13
                    digits = value.lstrip("0") or "0"  # (int() refuses more than 4300 digits)
                    if len(digits) <= 18:  # more than 18 digits (~3e7 years) is ignored too
                        self.retry = int(digits)
                # R9: anything else, comments included, is ignored

    def _plain_run(self, text: str, events: list[ServerSentEvent]) -> int:
        """Lines that begin with a run of one-line ``data: `` events, each value its own data line
        (the usual LLM stream): they are cut with one split. Returns where the other lines start."""
        parts = text.split("\n\ndata: ")
        values = parts[:-1]  # the last part begins the lines after the run
        start = len(text) - len(parts[-1]) - 6
        if not values or text.count("\n", 0, start) != 2 * len(values):  # another line among them
            return 0
        values[0] = values[0][6:]
        limit = self._max  # each event under the limit (a character is at most 4 bytes)
        if limit and 4 * start > limit and not (text.isascii() and max(map(len, values)) <= limit):
            return 0
        self.last_event_id = last_id = self._id_buffer  # R14 step 1, at each blank line
        events += [ServerSentEvent("", value, last_id, None) for value in values]
        return start

    def _add(self, value: str) -> None:
        """R11: one data value (or the start of one, from ``_overflow``). Past the limit, the event
        keeps only the head of its data."""
        if not self._max:
            self._data.append(value)
            return
        self._size += _utf8_len(value) + 1
        if self._size <= self._max + 1:
            self._data.append(value)
        else:
            self._data[:] = ["\n".join([*self._data, value[: OversizedEvent.HEAD_CHARS]])[: OversizedEvent.HEAD_CHARS]]

    def _overflow(self) -> None:
        """The unfinished line passed the cap: a data line gives its head now and its size as it
        comes (decoded as it comes, to count it as the limit does); any other line is dropped."""
        line = b"".join(self._pending)
        self._pending = []
        self._pending_size = 0
        if line.startswith(b"data:"):
            self._skip = codecs.getincrementaldecoder("utf-8")("replace")
            self._add(self._skip.decode(line[6:] if line[5:6] == b" " else line[5:]))
        else:
            self._skip = False


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _cut(text: str) -> Iterator[str]:
    """The lines of ``text``, cut with ``find`` (memchr): ``split`` scans a 64 KiB line one
    character at a time, ten times slower."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1
