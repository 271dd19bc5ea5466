"""The one definition of a complete run (utils/outcome.py), for every way a run can end."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from utils.outcome import CLEAN_ENDS, END_MARKERS, USER_BOUNDS, RunStatus, decide

ENDS = st.sampled_from(list(RunStatus))
FORMATS = st.sampled_from(["raw", "openai", "anthropic", "gemini", "dify", "dashscope", "text_path"])
NO_END_MARKER = ("raw", "text_path")  # their has_end_marker is False
ERRORS = st.one_of(st.none(), st.text(min_size=1, max_size=40))
BOUNDS = {"max_duration": 3, "read_timeout": 2, "max_stream_mb": 1, "max_events": 5, "max_event_kb": 64}


@given(ENDS, FORMATS, st.booleans(), ERRORS, ERRORS)
@example(RunStatus.COMPLETED, "openai", True, " ", None)  # {"error": {"message": " "}}: a blank reported error
def test_success_is_exactly_a_complete_run_without_a_reported_error(end, fmt, marker_seen, stream_error, end_error):
    outcome = decide(end, format_name=fmt, format_complete=marker_seen, has_end_marker=fmt not in NO_END_MARKER,
                     stream_error=stream_error, end_error=end_error, bounds=BOUNDS)
    if fmt in NO_END_MARKER:  # complete on [DONE] (marker_seen), a clean end or the user's own bounds
        complete = marker_seen or end in CLEAN_ENDS or end in USER_BOUNDS
    else:
        complete = marker_seen
    assert outcome.success is (complete and not stream_error)
    assert (outcome.error is None) is outcome.success  # a failure always says why, a success never
    assert outcome.status in RunStatus
    if outcome.error is not None:
        assert outcome.error.strip()


@given(ENDS, st.sampled_from(sorted(END_MARKERS)))
def test_a_format_that_saw_its_end_marker_is_complete_however_the_transport_ended(end, fmt):
    outcome = decide(end, format_name=fmt, format_complete=True, bounds=BOUNDS)
    assert outcome.success and outcome.status == end


@given(st.sampled_from([e for e in RunStatus if e not in (RunStatus.ERROR,)]), st.sampled_from(sorted(END_MARKERS)))
def test_before_its_end_marker_a_format_run_fails_naming_the_marker(end, fmt):
    outcome = decide(end, format_name=fmt, format_complete=False, bounds=BOUNDS)
    assert not outcome.success
    if end not in (RunStatus.IDLE_TIMEOUT, RunStatus.CONNECTION_LOST, RunStatus.EVENT_TOO_LARGE):
        assert END_MARKERS[fmt] in outcome.error


def test_a_clean_end_before_the_end_marker_is_called_incomplete():
    outcome = decide(RunStatus.COMPLETED, format_name="openai", format_complete=False)
    assert outcome.status == RunStatus.INCOMPLETE == "incomplete"
    assert outcome.error == "the server closed the stream before the stream's end marker (finish_reason or " \
                            "response.completed)"


@pytest.mark.parametrize("fmt", NO_END_MARKER)
def test_raw_is_complete_on_a_clean_end_and_on_the_users_own_bounds_only(fmt):
    for end in RunStatus:
        outcome = decide(end, format_name=fmt, format_complete=False, has_end_marker=False, bounds=BOUNDS)
        expected = end in {RunStatus.COMPLETED, RunStatus.NO_CONTENT, RunStatus.STOPPED, RunStatus.MAX_EVENTS,
                           RunStatus.TIMEOUT}
        assert outcome.success is expected, end


def test_the_limits_are_named_with_their_values():
    assert decide(RunStatus.TIMEOUT, format_name="dify", format_complete=False, bounds=BOUNDS).error == (
        "max_duration (3 s) ended the run before the stream's end marker (message_end or workflow_finished)")
    assert "max_stream_mb (1 MiB)" in decide(RunStatus.MAX_STREAM_BYTES, format_name="raw", format_complete=False,
                                             has_end_marker=False, bounds=BOUNDS).error


def test_the_transports_own_line_is_kept_where_only_it_knows_why():
    why = "no data for 2 s (read_timeout); not resumed: the server gave no event id"
    outcome = decide(RunStatus.IDLE_TIMEOUT, format_name="openai", format_complete=False, end_error=why)
    assert outcome.error == why and outcome.status == RunStatus.IDLE_TIMEOUT


def test_a_reported_error_wins_and_a_clean_end_becomes_status_error():
    outcome = decide(RunStatus.COMPLETED, format_name="anthropic", format_complete=True, stream_error="Overloaded")
    assert (outcome.status, outcome.success, outcome.error) == (RunStatus.ERROR, False, "Overloaded")
    outcome = decide(RunStatus.TIMEOUT, format_name="dify", format_complete=False, stream_error="failed")
    assert outcome.status == RunStatus.TIMEOUT and outcome.error == "failed"


def test_a_format_that_ended_but_says_no_success_is_no_success():
    outcome = decide(RunStatus.COMPLETED, format_name="dify", format_complete=True,
                     format_verdict=(False, "the app ended with status paused"))
    assert (outcome.status, outcome.success, outcome.error) == (
        RunStatus.INCOMPLETE, False, "the app ended with status paused")
    assert decide(RunStatus.COMPLETED, format_name="dify", format_complete=True, format_verdict=(True, None)).success
