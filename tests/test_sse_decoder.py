"""The decoder against the WHATWG rules R1-R17 (../shared/research/sse_anchors.md), one test or
more per rule. Each input goes through every path of the decoder (``paths`` below: the plain-run
split, the short-line split, the long-line cut), fed whole, at every split point and byte by byte,
and every result is compared with the one-path reference decoder (tests/reference_decoder.py)."""

from __future__ import annotations

import pytest

from tests import reference_decoder
from utils import sse_decoder
from utils.sse_decoder import OversizedEvent, SSEDecoder

PLAIN = b"data: p\n\n" * 20  # 40 short lines: the chunk takes the split paths, and a plain run
LONG = b"data: " + b"L" * 5000 + b"\n\n"  # a long line first: the chunk takes the long-line cut


def as_tuple(event):
    return (event.event, event.data, event.id, event.size if isinstance(event, OversizedEvent) else None)


def feed(data: bytes, cuts=(), limit: int = 0, decoder: SSEDecoder | None = None):
    """Our decoder fed ``data`` cut at ``cuts``: (events, last event ID string, reconnection time)."""
    decoder = decoder or SSEDecoder(limit)
    bounds = [0, *cuts, len(data)]
    events = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        events += [as_tuple(e) for e in decoder.feed(data[start:end])]
    return events, decoder.last_event_id, decoder.retry


def reference(data: bytes, limit: int = 0):
    stream = reference_decoder.decode(data, limit, OversizedEvent.HEAD_CHARS)
    return stream.events, stream.last_event_id, stream.reconnection_time


def variants(data: bytes):
    """(stream, cut points) pairs that take ``data`` through every path: whole, at every split
    point, byte by byte, among plain runs (split paths), after a long line (long-line cut), and
    repeated within one chunk."""
    for stream in (data, PLAIN + data + PLAIN):
        yield stream, ()
        for i in range(1, len(stream)):
            yield stream, (i,)
        yield stream, range(1, len(stream))
    yield data * 3 + PLAIN, ()
    yield data * 3 + PLAIN, range(1, len(data) * 3 + len(PLAIN))
    stream = LONG + data + LONG
    yield stream, ()
    for i in range(len(LONG) - 2, len(LONG) + len(data) + 2):
        yield stream, (i,)


def every_path(data: bytes, limit: int = 0):
    """Asserts that every way of feeding ``data`` gives what the reference gives; returns the
    events of ``data`` fed whole (type, data, id), for the rule's own expectations."""
    for stream, cuts in variants(data):
        assert feed(stream, cuts, limit) == reference(stream, limit), f"{stream!r} cut at {list(cuts)}"
    return [event[:3] for event in feed(data, (), limit)[0]]


every_split = every_path  # the rule tests below read as before


def paths(data: bytes) -> set[str]:
    """The paths the decoder takes for all the variants of ``data``."""
    taken: set[str] = set()
    plain_run, cut = SSEDecoder._plain_run, sse_decoder._cut

    def spy_plain_run(self, text, events):
        start = plain_run(self, text, events)
        taken.add("plain run" if start else "split")
        return start

    def spy_cut(text):
        taken.add("long-line cut")
        return cut(text)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SSEDecoder, "_plain_run", spy_plain_run)
        patch.setattr(sse_decoder, "_cut", spy_cut)
        for stream, cuts in variants(data):
            feed(stream, cuts)
    return taken


# R1: UTF-8 always; invalid bytes become U+FFFD.
def test_r1_utf8_and_invalid_bytes_become_replacement():
    assert every_split("data: héllo ✓ 𝄞\n\n".encode()) == [("message", "héllo ✓ 𝄞", "")]
    assert every_split(b"data: a\xffb\xc3\n\n") == [("message", "a\ufffdb\ufffd", "")]


def test_r1_multibyte_sequence_split_across_chunks():
    data = "data: 你好\n\n".encode()
    assert feed(data, [7, 8])[0] == [("message", "你好", "", None)]


# R2: one leading BOM stripped; a second one is data.
def test_r2_one_bom_stripped_even_when_split():
    assert every_split(b"\xef\xbb\xbfdata: 1\n\n") == [("message", "1", "")]


def test_r2_second_bom_is_not_stripped():
    events = every_split(b"\xef\xbb\xbf\xef\xbb\xbfdata: 1\n\ndata: 2\n\n")
    assert events == [("message", "2", "")]  # "\ufeffdata" is an unknown field


def test_r2_bom_later_in_the_stream_is_data():
    assert every_split(b"data: 1\n\n\xef\xbb\xbfdata: 2\n\n") == [("message", "1", "")]


# R3: CRLF, LF, lone CR; a CRLF split across chunks is one line end.
@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_r3_each_line_ending(eol):
    data = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert every_split(data) == [("message", "a\nb", ""), ("message", "c", "")]


def test_r3_mixed_endings():
    assert every_split(b"data: a\r\ndata: b\rdata: c\n\r\n") == [("message", "a\nb\nc", "")]


def test_r3_crlf_split_across_chunks_is_not_a_blank_line():
    assert feed(b"data: a\r\ndata: b\r\n\r\n", [8])[0] == [("message", "a\nb", "", None)]


def test_r3_final_cr_ends_the_line_at_once():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert [e.data for e in decoder.feed(b"\r")] == ["a"]  # dispatched without waiting for more bytes


# R4: only CR and LF end lines.
def test_r4_unicode_separators_are_data():
    text = "data: a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\n\n"
    assert every_split(text.encode()) == [("message", "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg", "")]


# R5: a blank line dispatches.
def test_r5_blank_line_dispatches_each_event():
    assert every_split(b"data: 1\n\ndata: 2\n\n") == [("message", "1", ""), ("message", "2", "")]


# R6: comments are ignored, whatever they hold.
def test_r6_comments_ignored():
    assert every_split(b": hi\n:\n: \x00 nul\ndata: x\n: between\n\n") == [("message", "x", "")]


def test_r6_only_comments_dispatch_nothing():
    assert every_split(b": keep-alive\n\n: keep-alive\n\n") == []


# R7: split at the first colon; strip exactly one leading space.
def test_r7_one_space_stripped_and_colons_kept():
    data = b"data:no space\n\ndata:  two spaces\n\ndata:\ttab\n\ndata: a:b: c\n\n"
    assert every_split(data) == [("message", "no space", ""), ("message", " two spaces", ""),
                                 ("message", "\ttab", ""), ("message", "a:b: c", "")]


# R8: a line without colon is a field with an empty value.
def test_r8_field_without_colon():
    assert every_split(b"data\ndata\n\n") == [("message", "\n", "")]
    assert every_split(b"id: 5\ndata: a\n\nid\ndata: b\n\n") == [("message", "a", "5"), ("message", "b", "")]


# R9: names are case-sensitive; unknown names ignored.
def test_r9_field_names_case_sensitive_unknown_ignored():
    assert every_split(b"Data: x\nDATA: y\nfoo: bar\ndata: z\n\n") == [("message", "z", "")]


# R10: event type; empty value means message.
def test_r10_event_type_and_empty_type():
    assert every_split(b"event: add\ndata: 1\n\nevent:\ndata: 2\n\ndata: 3\n\n") == [
        ("add", "1", ""), ("message", "2", ""), ("message", "3", "")]


def test_r10_event_type_does_not_leak_into_next_event():
    assert every_split(b"event: a\n\ndata: 1\n\n") == [("message", "1", "")]
    assert every_split(b"event: a\ndata: 1\n\ndata: 2\n\n") == [("a", "1", ""), ("message", "2", "")]


def test_r10_event_type_read_before_a_run_of_plain_events_is_theirs_first():
    assert every_split(b"event: a\n" + PLAIN) == [("a", "p", "")] + [("message", "p", "")] * 19


# R11: data lines join with LF.
def test_r11_multiline_data():
    assert every_split(b"data: {\ndata: \"a\": 1\ndata: }\n\n") == [("message", '{\n"a": 1\n}', "")]


# R12: id sets the last event id unless it holds NUL; empty resets.
def test_r12_id_with_nul_is_ignored():
    assert every_split(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [("message", "a", "1"), ("message", "b", "1")]


def test_r12_id_read_before_a_run_of_plain_events_is_theirs():
    assert every_split(b"id: 7\n" + PLAIN) == [("message", "p", "7")] * 20


def test_r12_empty_id_resets():
    assert every_split(b"id: 1\ndata: a\n\nid:\ndata: b\n\n") == [("message", "a", "1"), ("message", "b", "")]


# R13: retry only for ASCII digits, applied at once (even in a block without data).
@pytest.mark.parametrize("value,expected", [(b"2000", 2000), (b"02000", 2000), (b"0", 0)])
def test_r13_retry_digits(value, expected):
    every_path(b"retry: " + value + b"\n\n")
    assert feed(b"retry: " + value + b"\n\n")[2] == expected


@pytest.mark.parametrize("value", [b"1000x", b"+5", b"-5", b" 5", b"5 ", b"2_000", "\u0665".encode(), b"", b"1e3"])
def test_r13_retry_bogus_values_ignored(value):
    data = b"retry: 7\n\nretry:" + (b" " + value if value else b"") + b"\n\n"
    every_path(data)
    assert feed(data)[2] == 7


def test_r13_retry_applies_before_dispatch_and_at_eof():
    decoder = SSEDecoder()
    decoder.feed(b"data: a\nretry: 50\n")  # no blank line yet
    assert decoder.retry == 50


# R14: no data, no event; one trailing LF dropped; extra blank lines dispatch nothing.
def test_r14_block_without_data_dispatches_nothing():
    assert every_split(b"event: ping\n\nid: 4\n\nretry: 10\n\n\n\n") == []


def test_r14_empty_data_is_an_event():
    assert every_split(b"data:\n\n") == [("message", "", "")]


def test_r14_only_one_trailing_lf_removed():
    assert every_split(b"data: a\ndata:\n\n") == [("message", "a\n", "")]


def test_r14_id_only_block_sets_id_for_later_events():
    assert every_split(b"id: 9\n\ndata: x\n\n") == [("message", "x", "9")]


def test_r14_comment_after_id_no_phantom_event():
    assert every_split(b"id: 1\ndata: a\n\n: ping\n\n: ping\n\n") == [("message", "a", "1")]


# R15: the id persists across events until changed.
def test_r15_id_persists():
    assert every_split(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n") == [
        ("message", "a", "1"), ("message", "b", "1"), ("message", "c", "2")]


# R16: an unterminated final event is never dispatched.
def test_r16_unterminated_final_event_dropped():
    assert every_split(b"data: a\n\ndata: b\n") == [("message", "a", "")]
    assert every_split(b"data: a\n\ndata: b") == [("message", "a", "")]


# R17 and a new connection: the data of one body never leaks into the next, the id does.
def test_new_stream_keeps_id_and_retry_but_drops_partial_event():
    decoder = SSEDecoder()
    decoder.feed(b"retry: 30\nid: 7\ndata: a\n\ndata: partial\n")
    decoder.new_stream()
    events = decoder.feed(b"\xef\xbb\xbfdata: b\n\n")  # a new body may start with its own BOM
    assert [(e.data, e.id) for e in events] == [("b", "7")]
    assert decoder.retry == 30


def test_large_line_across_many_chunks():
    payload = b"x" * 300_000
    data = b"data: " + payload + b"\n\n"
    decoder = SSEDecoder()
    events = []
    for i in range(0, len(data), 1024):
        events.extend(decoder.feed(data[i : i + 1024]))
    assert [len(e.data) for e in events] == [300_000]


def test_events_of_one_chunk_come_together_and_none_is_held_back():
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: 1\n\ndata: 2\n\ndata: 3")] == ["1", "2"]
    assert [e.data for e in decoder.feed(b"\n\n")] == ["3"]


# Issue 11 fault 8: the id field sets the last event ID buffer; the last event ID string takes the
# buffer's value at every dispatch step (every blank line, even one that dispatches nothing).
@pytest.mark.parametrize("data,last_event_id", [
    (b"id: 42\n", ""),
    (b"id: 42\n\n", "42"),
    (b"id: 4\ndata: event 4\n", ""),  # the connection drops here: event 4 was never received
    (b"id: 3\ndata: 3\n\nid: 4\ndata: event 4\n", "3"),
    (b"id: 3\ndata: 3\n\nid: 4\n\n", "4"),  # a blank line that dispatches no event moves it too
    (b"id: 3\n\nid\n", "3"),
    (b"id: 3\n\nid\n\n", ""),
    (b"id: 3\n\nid: 4\x00\n\n", "3"),
    (PLAIN + b"id: 9\n" + PLAIN[:-1], "9"),
    (PLAIN + b"id: 9\ndata: p\n", ""),
])
def test_last_event_id_string_changes_only_at_dispatch(data, last_event_id):
    every_path(data)
    for cuts in ((), range(1, len(data))):
        assert feed(data, cuts)[1] == last_event_id


def test_new_stream_forgets_an_id_never_dispatched():
    decoder = SSEDecoder()
    decoder.feed(b"id: 3\ndata: 3\n\nid: 4\ndata: event 4\n")  # cut before event 4 ended
    decoder.new_stream()  # the reconnect sent Last-Event-ID: 3
    assert decoder.last_event_id == "3"
    assert [as_tuple(e) for e in decoder.feed(b"data: event 4\n\n")] == [("message", "event 4", "3", None)]


# Issue 11 fault 9 and contract C1: an event of exactly max_event_bytes of data (the data buffer
# as WHATWG builds it: values joined by LF, in UTF-8 bytes) is dispatched; one byte more is an
# OversizedEvent with its type, the head of its data, its id and its size; decoding goes on.
@pytest.mark.parametrize("value", [b"x" * 40, "é".encode() * 20, b"a\ndata: " + b"b" * 38, b"\xff" * 40],
                         ids=["ascii", "two-byte", "two lines", "invalid bytes"])
def test_event_of_exactly_the_limit_is_accepted_and_one_byte_more_is_oversized(value):
    one = b"event: e\nid: 1\ndata: " + value + b"\n\ndata: after\n\n"
    run = (b"data: " + value + b"\n\n") * 3  # a run of plain events (if one line)
    whole = reference_decoder.decode(one).events[0][1]
    size = len(whole.encode())  # an invalid byte is U+FFFD: 3 bytes
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OversizedEvent, "HEAD_CHARS", 5)  # (a head shorter than the data)
        for limit in (size, size + 1):
            assert every_path(one, limit) == [("e", whole, "1"), ("message", "after", "1")]
            assert every_path(run, limit) == [("message", whole, "")] * 3
            assert feed(one, (), limit)[0][0][3] is None
        assert every_path(one, size - 1) == [("e", whole[:5], "1"), ("message", "after", "1")]
        assert feed(one, (), size - 1)[0][0][3] == size
        assert every_path(run, size - 1) == [("message", whole[:5], "")] * 3
        assert [event[3] for event in feed(run, (), size - 1)[0]] == [size] * 3


@pytest.mark.parametrize("name", [b"id", b"event", b"retry"])
def test_a_line_of_another_field_longer_than_the_limit_is_ignored(name):
    limit = 20
    line = name + b": " + b"7" * (limit - len(name) - 2)  # exactly the limit: kept
    data = line + b"\ndata: a\n\n" + line + b"7\ndata: b\n\n"  # one byte more: ignored
    expected = {b"id": [("message", "a", "7" * 16), ("message", "b", "7" * 16)],
                b"event": [("7" * 13, "a", ""), ("message", "b", "")],
                b"retry": [("message", "a", ""), ("message", "b", "")]}[name]
    assert every_path(data, limit) == expected
    assert feed(data, (), limit)[2] == (int("7" * 13) if name == b"retry" else None)


def test_oversized_event_is_dispatched_with_its_head_and_decoding_goes_on():
    big = b'{"event": "node_finished", "outputs": "' + b"x" * 2_000_000 + b'"}'
    data = b"data: before\n\nevent: big\nid: 5\ndata: " + big + b"\n\ndata: after\n\n"
    decoder = SSEDecoder(1024 * 1024)
    events = []
    for i in range(0, len(data), 65536):
        events += decoder.feed(data[i : i + 65536])
    assert [type(e) for e in events] == [sse_decoder.ServerSentEvent, OversizedEvent, sse_decoder.ServerSentEvent]
    assert (events[1].event, events[1].id, events[1].size) == ("big", "5", len(big))
    assert events[1].data == big[: OversizedEvent.HEAD_CHARS].decode()
    assert events[2].data == "after" and events[2].id == "5"


@pytest.mark.parametrize("line", [
    b"data: " + b"x" * 10_000_000,  # one data line
    b"id: " + b"7" * 10_000_000,  # one id line (ignored, like an id with NUL)
    b"event: " + b"t" * 10_000_000,  # one event line (ignored)
    b"retry: " + b"9" * 10_000_000,  # one retry line (ignored)
    b": " + b"c" * 10_000_000,  # a comment
    (b"data: " + b"y" * 100 + b"\n") * 100_000,  # many data lines of one event
], ids=["data", "id", "event", "retry", "comment", "many data lines"])
def test_memory_stays_bounded_by_the_limit_whatever_the_stream(line):
    import tracemalloc

    limit = 64 * 1024
    decoder = SSEDecoder(limit)
    chunks = [line[i : i + 65536] for i in range(0, len(line), 65536)]
    tracemalloc.start()
    try:
        for chunk in chunks:
            decoder.feed(chunk)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # what the decoder keeps between chunks is bounded by the limit; its work on one chunk by the
    # limit and the chunk; neither grows with the 10 MB stream
    assert kept < 2 * limit and peak < 24 * limit, f"kept {kept}, peak {peak} bytes for a limit of {limit}"
    events = [as_tuple(e) for e in decoder.feed(b"\n\ndata: next\n\n")]
    assert events[-1] == ("message", "next", "", None)
    assert decoder.last_event_id == "" and decoder.retry is None


def test_retry_with_more_digits_than_int_accepts_does_not_crash():
    data = b"retry: " + b"0" * 5000 + b"25\n\nretry: " + b"9" * 5000 + b"\n\ndata: x\n\n"
    for stream in (data, PLAIN + data):
        for cuts in ((), (len(stream) // 3,), range(1, len(stream), 97)):
            assert feed(stream, cuts) == reference(stream)
    assert feed(data) == ([("message", "x", "", None)], "", 25)  # 19 digits or more (~3e7 years): ignored


# Issue 15: every rule input above takes every path of the decoder (so a rule broken in one path
# fails its test), checked here for a sample of the inputs.
@pytest.mark.parametrize("data", [
    b"data: a\r\ndata: b\rdata: c\n\r\n",
    b"event: add\ndata: 1\n\nevent:\ndata: 2\n\ndata: 3\n\n",
    b"id: 1\ndata: a\n\nid:\ndata: b\n\n",
    b": hi\n:\n: \x00 nul\ndata: x\n: between\n\n",
])
def test_rule_inputs_take_every_path(data):
    assert paths(data) == {"plain run", "split", "long-line cut"}
