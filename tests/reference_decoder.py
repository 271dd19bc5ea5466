"""A plain one-path event-stream decoder, written for clarity, not speed: the yardstick of the
differential tests of ``utils/sse_decoder.py``.

It follows WHATWG HTML §9.2.6 "Interpreting an event stream" step by step, on a whole stream at
once: decode the bytes as UTF-8 (one leading BOM stripped, invalid bytes replaced), cut lines at
CRLF, LF or CR, and process each line with the data buffer, the event type buffer and the last
event ID buffer. Plus our size limit (the rules in ``utils/sse_decoder.py``'s docstring): an event
whose data passes ``max_event_bytes`` UTF-8 bytes becomes an ``OversizedEvent``, and a line of
another field longer than ``max_event_bytes`` is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LINE_END = re.compile(r"\r\n|\r|\n")  # "a CRLF pair, a single LF, or a single CR"


@dataclass
class Stream:
    """One parse: its buffers, what it dispatched, and the state that outlives a connection."""

    max_event_bytes: int = 0
    head_chars: int = 1024
    events: list[tuple[str, str, str, int | None]] = field(default_factory=list)  # type, data, id, size
    last_event_id: str = ""  # the last event ID string
    reconnection_time: int | None = None
    last_event_id_buffer: str = ""
    data_buffer: str = ""
    event_type_buffer: str = ""

    def feed(self, body: bytes) -> None:
        """Interprets a whole response body (bytes); the unterminated last line is discarded."""
        text = body.decode("utf-8", "replace")  # UTF-8 decode
        if text.startswith("\ufeff"):  # ... strips one leading BOM
            text = text[1:]
        *lines, _unterminated = LINE_END.split(text)  # "any pending data must be discarded"
        for line in lines:
            self.line(line)

    def line(self, line: str) -> None:
        if line == "":  # "If the line is empty (a blank line): dispatch the event"
            self.dispatch()
        elif line.startswith(":"):  # "If the line starts with a U+003A COLON character (:): ignore the line"
            pass
        elif ":" in line:  # "collect the characters on the line before the first colon..."
            name, value = line.split(":", 1)
            if value.startswith(" "):  # "...if value starts with a U+0020 SPACE character, remove it"
                value = value[1:]
            self.field(name, value, line)
        else:  # "...using the whole line as the field name, and the empty string as the field value"
            self.field(line, "", line)

    def field(self, name: str, value: str, line: str) -> None:
        """"Process the field": the steps for each field name."""
        if name == "data":
            self.data_buffer += value + "\n"
        elif self.max_event_bytes and len(line.encode()) > self.max_event_bytes:
            pass  # ours: a line of another field longer than the limit is ignored
        elif name == "event":
            self.event_type_buffer = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id_buffer = value
        elif name == "retry":
            if value != "" and all(c in "0123456789" for c in value):
                if len(value.lstrip("0")) <= 18:  # ours: a longer value is ignored
                    self.reconnection_time = int(value.lstrip("0") or "0")
        # otherwise: ignore the field

    def dispatch(self) -> None:
        # 1. Set the last event ID string of the event source to the value of the last event ID buffer.
        self.last_event_id = self.last_event_id_buffer
        # 2. If the data buffer is an empty string, set the data buffer and the event type buffer to
        #    the empty string and return.
        if self.data_buffer == "":
            self.event_type_buffer = ""
            return
        # 3. If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove
        #    the last character from the data buffer.
        data = self.data_buffer[:-1] if self.data_buffer.endswith("\n") else self.data_buffer
        # 4-6. The event: its type (or "message"), its data, the last event ID string.
        size = len(data.encode())
        if self.max_event_bytes and size > self.max_event_bytes:  # ours: only the head, and the size
            self.events.append((self.event_type_buffer or "message", data[: self.head_chars], self.last_event_id,
                                size))
        else:
            self.events.append((self.event_type_buffer or "message", data, self.last_event_id, None))
        # 7. Set the data buffer and the event type buffer to the empty string.
        self.data_buffer = ""
        self.event_type_buffer = ""

    def new_connection(self) -> None:
        """A new response body: new buffers; the last event ID buffer starts from the string."""
        self.data_buffer = self.event_type_buffer = ""
        self.last_event_id_buffer = self.last_event_id


def decode(body: bytes, max_event_bytes: int = 0, head_chars: int = 1024) -> Stream:
    stream = Stream(max_event_bytes, head_chars)
    stream.feed(body)
    return stream
