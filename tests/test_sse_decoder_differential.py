"""Differential property test (issue 15, issue 11): random event streams, cut into random chunks,
give the same events, last event ID string and reconnection time from our decoder as from the
one-path reference decoder (tests/reference_decoder.py) fed the whole stream, and as our decoder
fed the whole stream, with and without a size limit."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import reference_decoder
from utils import sse_decoder
from utils.sse_decoder import OversizedEvent, SSEDecoder

HEAD_CHARS = 4  # a small head, so that over-long lines and oversized events occur in short streams



@pytest.fixture(scope="module", autouse=True)
def small_head():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OversizedEvent, "HEAD_CHARS", HEAD_CHARS)
        patch.setattr(sse_decoder, "_SHORT", sse_decoder._SHORT)
        yield


text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
raw = st.binary(max_size=6).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))  # invalid UTF-8 too
value = st.one_of(
    text.map(str.encode),
    raw,
    st.sampled_from([b"", b" ", b"  x", b"a:b", b"\x00", b"1\x002", "\ufeff".encode(), "é✓𝄞".encode(),
                     b"\xe4\xbd", b"\xf0\x9f\x98"]),
    st.integers(10, 3000).map(lambda n: b"v" * n),  # long lines
    st.integers(1, 400).map(lambda n: "é".encode() * n),
)
digits = st.one_of(st.integers(0, 10**6).map(lambda n: str(n).encode()),
                   st.sampled_from([b"02000", b"+5", b"-5", b" 5", b"5 ", b"1e3", b"", "\u0665".encode(),
                                    b"0" * 30 + b"7", b"9" * 19, b"9" * 18]))
name = st.sampled_from([b"data", b"event", b"id", b"retry", b"Data", b"foo", b""])


@st.composite
def lines(draw) -> list[bytes]:
    kind = draw(st.sampled_from(["data", "data", "data", "event", "id", "retry", "comment", "other", "bare",
                                 "blank", "blank", "run"]))
    if kind == "run":  # a run of one-line data events: the plain-run path
        return [b"data: " + draw(value), b""] * draw(st.integers(1, 20))
    if kind == "blank":
        return [b""]
    if kind == "comment":
        return [b":" + draw(value)]
    if kind == "bare":  # a field name without colon
        return [draw(name)]
    if kind == "retry":
        return [b"retry:" + draw(st.sampled_from([b"", b" "])) + draw(digits)]
    field = draw(name) if kind == "other" else kind.encode()
    return [field + b":" + draw(st.sampled_from([b"", b" ", b"  "])) + draw(value)]


@st.composite
def streams(draw) -> bytes:
    body = [line for group in draw(st.lists(lines(), max_size=25)) for line in group]
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r", b"\r\n"]), min_size=len(body), max_size=len(body)))
    data = b"".join(line + end for line, end in zip(body, ends, strict=True))
    data = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xef\xbb"])) + data
    return data + draw(st.sampled_from([b"", b"data: unterminated", b"data: x\n", b"\r", b"retry: 3"]))


@st.composite
def cuts(draw, data: bytes) -> list[int]:
    if not data:
        return []
    return sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=min(len(data), 40))))


def ours(data: bytes, points: list[int], limit: int):
    decoder = SSEDecoder(limit)
    events = []
    for start, end in zip([0, *points], [*points, len(data)], strict=True):
        for event in decoder.feed(data[start:end]):
            size = event.size if isinstance(event, OversizedEvent) else None
            events.append((event.event, event.data, event.id, size))
    return events, decoder.last_event_id, decoder.retry


def theirs(data: bytes, limit: int):
    stream = reference_decoder.decode(data, limit, HEAD_CHARS)
    return stream.events, stream.last_event_id, stream.reconnection_time


# The decoder picks its line path by a guess on each chunk (split for many short lines, find for
# a few long ones; a run of plain events first); each test runs with the guess as it is, and with
# each path forced on every chunk.
PATHS = {"as guessed": sse_decoder._SHORT, "split and plain run forced": 0, "long-line cut forced": 10**9}


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), stream=streams(), limit=st.sampled_from([0, 0, 1, 3, 8, 20, 64, 300, 2000]))
def test_random_streams_in_random_chunks_decode_as_the_reference_does(path, data, stream, limit):
    sse_decoder._SHORT = PATHS[path]  # (restored by the fixture)
    points = data.draw(cuts(stream))
    whole = ours(stream, [], limit)
    assert whole == theirs(stream, limit)
    assert ours(stream, points, limit) == whole
    assert ours(stream, list(range(1, len(stream))), limit) == whole  # byte by byte


@settings(max_examples=200, deadline=None)
@given(first=streams(), second=streams())
def test_a_new_stream_keeps_only_the_last_event_id_string_and_the_reconnection_time(first, second):
    decoder = SSEDecoder()
    reference = reference_decoder.Stream(0, HEAD_CHARS)
    events = [(e.event, e.data, e.id, None) for e in decoder.feed(first)]
    decoder.new_stream()
    events += [(e.event, e.data, e.id, None) for e in decoder.feed(second)]
    reference.feed(first)
    reference.new_connection()
    reference.feed(second)
    assert (events, decoder.last_event_id, decoder.retry) == (
        reference.events, reference.last_event_id, reference.reconnection_time)
