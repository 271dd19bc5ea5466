"""The WHATWG event-stream decoder: bytes in, events out, no I/O.

Rules R1-R17 of ``../shared/research/sse_anchors.md`` (HTML "Interpreting an event stream"):
UTF-8 always (one leading BOM stripped, invalid bytes become U+FFFD), CR / LF / CRLF line ends
even when split across chunks, comments ignored, one leading space stripped from values,
no event for a block without ``data``, ``id`` persists and ignores values with NUL, ``retry``
only for ASCII digits (applied at once), and an unterminated final block is never dispatched.

Work is done per network chunk, not per byte: a chunk is scanned once for its last line end,
the complete lines are decoded in one call and split in one call (into event blocks, so that
the usual one-line ``data:`` event costs one step), and bytes of an unfinished line wait in a
list (joined once, when the line completes), so long lines cost O(n).
"""

from __future__ import annotations

from httpx_sse import ServerSentEvent

_BOM = b"\xef\xbb\xbf"


class EventTooLarge(ValueError):
    """One event (or one line) is larger than the decoder's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an event exceeded the size limit of {limit} bytes")
        self.limit = limit


class OversizedEvent(ServerSentEvent):
    """An event whose data passed the decoder's size limit: dispatched in place of the event, with
    only the first ``HEAD_CHARS`` characters of its data (enough for a format to tell what kind
    of event it was) and ``size``, the bytes of data seen before the decoder stopped keeping them.
    The rest of the event's data was discarded as it arrived; decoding goes on after it."""

    HEAD_CHARS = 1024

    def __init__(self, event: str | None, head: str, id: str | None, size: int) -> None:
        super().__init__(event, head, id, None)
        self.size = size


class SSEDecoder:
    """Incremental decoder. ``feed(chunk)`` returns the events completed by that chunk.

    ``last_event_id`` and ``retry`` (the reconnection time in ms, or None) outlive a
    connection; call ``new_stream()`` when a new response body starts.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event_type",
        "_max",
        "_pending",
        "_pending_size",
        "_skip_lf",
        "_start",
        "last_event_id",
        "retry",
    )

    def __init__(self, max_event_bytes: int = 0) -> None:
        self._max = max_event_bytes  # 0: no limit
        self.last_event_id = ""
        self.retry: int | None = None
        self.new_stream()

    def new_stream(self) -> None:
        """Forget everything that belongs to one response body (not the id or retry)."""
        self._pending: list[bytes | memoryview] = []  # bytes of the line being received
        self._pending_size = 0
        self._skip_lf = False  # the previous chunk ended in CR: a LF now completes a CRLF
        self._start: bytes | None = b""  # bytes held while a leading BOM is undecided
        self._event_type = ""
        self._data: list[str] = []
        self._data_size = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._start is not None:  # R2: strip one BOM at the very start of the stream
            chunk = self._start + chunk
            if len(chunk) < 3 and _BOM.startswith(chunk):
                self._start = chunk
                return []
            self._start = None
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
        if not chunk:
            return []
        if self._skip_lf:  # R3: the LF of a CRLF split across chunks
            self._skip_lf = False
            if chunk[0] == 10:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if b"\r" in chunk:
            self._skip_lf = chunk[-1] == 13  # a final CR ends its line now, not later
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.rfind(b"\n")
        if end < 0:
            self._pending.append(chunk)
            self._pending_size += len(chunk)
            if self._max and self._pending_size > self._max:
                raise EventTooLarge(self._max)
            return []
        view = memoryview(chunk)  # slices without copies
        if self._pending:
            self._pending.append(view[:end])
            buffer = b"".join(self._pending)
            stop = len(buffer)
            self._pending = []
        else:
            buffer, stop = chunk, end
        rest = view[end + 1 :]
        self._pending_size = len(rest)
        if rest:
            self._pending.append(rest)
        # R1: a line end never falls inside a UTF-8 sequence, so complete lines decode alone.
        if buffer.count(b"\n", 0, min(stop, 4096)) < 16:  # few, long lines (64 KiB events)
            return self._long_lines(buffer, stop)
        return self._blocks(str(memoryview(buffer)[:stop], "utf-8", "replace"))

    def _long_lines(self, buffer: bytes, stop: int) -> list[ServerSentEvent]:
        """The lines of ``buffer[:stop]``, cut on bytes with ``find`` (memchr), each ``data: ``
        value decoded straight from the buffer: a 64 KiB value is copied once, not four times."""
        events: list[ServerSentEvent] = []
        view = memoryview(buffer)
        start = 0
        while start <= stop:
            end = buffer.find(b"\n", start, stop)
            if end < 0:
                end = stop
            if buffer.startswith(b"data: ", start, end):  # R7, R11 in one step
                self._add_data(str(view[start + 6 : end], "utf-8", "replace"))
            else:
                self._lines([str(view[start:end], "utf-8", "replace")], events)
            start = end + 1
        return events

    def _blocks(self, text: str) -> list[ServerSentEvent]:
        """The lines of ``text`` (complete lines joined by LF) in one pass per event block.

        ``text.split("\\n\\n")`` cuts at each line end followed by a blank line: every piece but
        the last is a block whose end dispatches (R5), and joining the pieces' lines with a blank
        line between them gives back exactly ``text.split("\\n")``. A block that is a single
        ``data: `` line, the usual event, becomes an event directly; any other block goes
        through ``_lines``, which handles every rule (R6-R14), blank lines included.
        """
        events: list[ServerSentEvent] = []
        if not self._data and not self._event_type and text[:6] == "data: ":
            parts = text.split("\n\ndata: ")  # a run of plain events: each value cut in one copy
            if len(parts) > 2 and not any("\n" in part for part in parts[1:-1]) and "\n" not in parts[0]:
                values = parts[:-1]
                values[0] = values[0][6:]
                if self._max and len(text) >= self._max and max(map(len, values)) >= self._max:
                    raise EventTooLarge(self._max)
                event, last_id = ServerSentEvent, self.last_event_id
                events = [event("", value, last_id, None) for value in values]
                self._lines(("data: " + parts[-1]).split("\n"), events)
                return events
        *blocks, tail = text.split("\n\n")
        data = self._data
        append, event = events.append, ServerSentEvent  # locals: this loop runs per event
        limit = self._max if len(text) >= self._max else 0  # no value can pass a limit the whole text is under
        event_type, last_id = self._event_type, self.last_event_id  # only a block's own lines change them
        for block in blocks:
            if not data and block[:6] == "data: " and "\n" not in block:  # R7, R11, R14 at once
                value = block[6:]
                if limit and len(value) >= limit:
                    raise EventTooLarge(limit)
                append(event(event_type, value, last_id, None))
            else:
                self._event_type = event_type
                self._lines(block.split("\n"), events)
                last_id = self.last_event_id
                if data:  # R5, R14: the blank line after the block
                    append(event(self._event_type, "\n".join(data), last_id, None))
                    data.clear()
                    self._data_size = 0
            event_type = ""  # R14: the type does not outlive its block
        self._event_type = ""
        self._lines(tail.split("\n"), events)
        return events

    def _add_data(self, value: str) -> None:
        """R11: appends a data line, within the event size limit."""
        self._data.append(value)
        if self._max:
            self._data_size += len(value) + 1
            if self._data_size > self._max:
                self._data.clear()
                self._data_size = 0
                raise EventTooLarge(self._max)

    def _lines(self, lines: list[str], events: list[ServerSentEvent]) -> None:
        data = self._data
        for line in lines:
            if not line:  # R5, R14: dispatch
                if data:
                    events.append(
                        ServerSentEvent(self._event_type, "\n".join(data), self.last_event_id, None)
                    )
                    data.clear()
                    self._data_size = 0
                self._event_type = ""
                continue
            if line[:6] == "data: ":  # the usual field, in one copy (a 64 KiB value is copied once)
                field, value = "data", line[6:]
            else:
                field, _, value = line.partition(":")  # R7, R8; a comment has field "" (R6)
                if value[:1] == " ":
                    value = value[1:]
            if field == "data":  # R11
                self._add_data(value)
            elif field == "event":  # R10
                self._event_type = value
            elif field == "id":  # R12
                if "\0" not in value:
                    self.last_event_id = value
            elif field == "retry":  # R13
                if value.isdigit() and value.isascii():
                    self.retry = int(value)
            # R9: anything else, comments included, is ignored
