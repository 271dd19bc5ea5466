"""The decoder against the WHATWG rules R1-R17 (../shared/research/sse_anchors.md), one test or
more per rule, each fed whole, byte by byte, and split at every position."""

from __future__ import annotations

import pytest

from utils.sse_decoder import EventTooLarge, SSEDecoder


def decode(data: bytes, splits: list[int] | None = None, decoder: SSEDecoder | None = None):
    decoder = decoder or SSEDecoder()
    cuts = [0, *(splits or []), len(data)]
    events = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        events.extend(decoder.feed(data[start:end]))
    return [(e.event, e.data, e.id) for e in events], decoder


def every_split(data: bytes):
    """The result must not depend on where the network cut the bytes."""
    whole, _ = decode(data)
    for i in range(1, len(data)):
        assert decode(data, [i])[0] == whole, f"split at {i}"
    assert decode(data, list(range(1, len(data))))[0] == whole, "byte by byte"
    return whole


# R1: UTF-8 always; invalid bytes become U+FFFD.
def test_r1_utf8_and_invalid_bytes_become_replacement():
    assert every_split("data: héllo ✓ 𝄞\n\n".encode()) == [("message", "héllo ✓ 𝄞", "")]
    assert every_split(b"data: a\xffb\xc3\n\n") == [("message", "a\ufffdb\ufffd", "")]


def test_r1_multibyte_sequence_split_across_chunks():
    data = "data: 你好\n\n".encode()
    assert decode(data, [7, 8])[0] == [("message", "你好", "")]


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
    events, _ = decode(b"data: a\r\ndata: b\r\n\r\n", [8])
    assert events == [("message", "a\nb", "")]


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


# R11: data lines join with LF.
def test_r11_multiline_data():
    assert every_split(b"data: {\ndata: \"a\": 1\ndata: }\n\n") == [("message", '{\n"a": 1\n}', "")]


# R12: id sets the last event id unless it holds NUL; empty resets.
def test_r12_id_with_nul_is_ignored():
    assert every_split(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [("message", "a", "1"), ("message", "b", "1")]


def test_r12_empty_id_resets():
    assert every_split(b"id: 1\ndata: a\n\nid:\ndata: b\n\n") == [("message", "a", "1"), ("message", "b", "")]


# R13: retry only for ASCII digits, applied at once (even in a block without data).
@pytest.mark.parametrize("value,expected", [(b"2000", 2000), (b"02000", 2000), (b"0", 0)])
def test_r13_retry_digits(value, expected):
    _, decoder = decode(b"retry: " + value + b"\n\n")
    assert decoder.retry == expected


@pytest.mark.parametrize("value", [b"1000x", b"+5", b"-5", b" 5", b"5 ", b"2_000", "\u0665".encode(), b"", b"1e3"])
def test_r13_retry_bogus_values_ignored(value):
    _, decoder = decode(b"retry: 7\n\nretry:" + (b" " + value if value else b"") + b"\n\n")
    assert decoder.retry == 7


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


def test_event_larger_than_limit_raises():
    decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(EventTooLarge):
        decoder.feed(b"data: " + b"x" * 2000)  # one unfinished line
    decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(EventTooLarge):
        for _ in range(30):
            decoder.feed(b"data: " + b"y" * 50 + b"\n")  # many lines of one event


def test_events_of_one_chunk_come_together_and_none_is_held_back():
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: 1\n\ndata: 2\n\ndata: 3")] == ["1", "2"]
    assert [e.data for e in decoder.feed(b"\n\n")] == ["3"]
