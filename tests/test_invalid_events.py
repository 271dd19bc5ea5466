"""Issue 8: an event whose data should be JSON for its format but is not is skipped (no text),
logged as a warning without its data, counted, and its first snippets kept, length-capped and
with the run's secrets masked. A stream of nothing but invalid events still ends with a summary."""

from __future__ import annotations

import logging

import pytest

from tests.format_support import aggregate, transcript
from tests.helpers import run
from utils.formats.base import MAX_INVALID_SAMPLES, MAX_SAMPLE_CHARS

SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(("name", "fmt", "count", "answer"), [
    ("dify_invalid.sse", "dify", 6, "Good morning"),
    ("openai_invalid.sse", "openai", 3, "Still here"),
    ("anthropic_invalid.sse", "anthropic", 2, "Okay, let"),
    ("gemini_invalid.sse", "gemini", 2, "The sky is blue because of Rayleigh scattering."),
])
def test_invalid_events_are_skipped_and_counted_in_each_format(name: str, fmt: str, count: int, answer: str) -> None:
    result = aggregate(name, fmt)
    assert result.outcome.invalid_events == count
    assert result.streamed == result.outcome.answer == answer  # nothing of the invalid data became text
    assert result.types.count("invalid") == count
    assert result.outcome.error is None  # never fatal


def test_the_valid_events_around_invalid_ones_still_aggregate() -> None:
    outcome = aggregate("dify_invalid.sse", "dify").outcome
    assert outcome.result["success"] is True and outcome.usage.total_tokens == 1168


def test_samples_are_the_first_five_raw_snippets_capped_in_length() -> None:
    outcome = aggregate("dify_invalid.sse", "dify").outcome
    samples = outcome.invalid_samples
    assert len(samples) == MAX_INVALID_SAMPLES
    assert samples[0] == '{"event": "message", "answer": " trunc'
    assert samples[1] == "<html><body>502 Bad Gateway</body></html>"
    assert samples[4] == "x" * MAX_SAMPLE_CHARS + "…"  # a 500-char line, capped
    assert all(len(s) <= MAX_SAMPLE_CHARS + 1 for s in samples)


def test_each_invalid_event_is_logged_as_a_warning_without_its_data(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="utils.formats.base"):
        aggregate("openai_invalid.sse", "openai")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "openai stream: skipped event 1" in warnings[0].getMessage()
    assert all("lost" not in r.getMessage() and "keep-alive" not in r.getMessage() for r in warnings)


def test_a_long_run_of_invalid_events_logs_five_warnings_and_a_total(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="utils.formats.base"):
        outcome = aggregate("all_invalid.sse", "dify").outcome
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == MAX_INVALID_SAMPLES + 1
    assert messages[-1] == "dify stream: 8 events in all were skipped as invalid JSON"
    assert outcome.invalid_events == 8


def test_through_the_run_the_summary_counts_and_masks_secrets(server) -> None:
    server.route("/s", None, transcript("dify_invalid.sse"))
    _, summary = run({"url": server.url + "/s", "auth_type": "bearer", "auth_token": SECRET,
                      "stream_format": "dify"})
    assert summary["invalid_events"] == 6
    assert len(summary["invalid_samples"]) == 5
    # The sixth invalid event held the secret, and only five samples are kept: send it earlier.
    server.route("/t", None, "data: token=" + SECRET + "\n\n", transcript("dify_chat.sse"))
    _, summary = run({"url": server.url + "/t", "auth_type": "bearer", "auth_token": SECRET,
                      "stream_format": "dify"})
    assert summary["invalid_samples"] == ["token=***"]
    assert summary["success"] is True and summary["answer"].startswith("Hi there!")


def test_a_stream_of_only_invalid_events_ends_with_a_clear_summary(server) -> None:
    server.route("/s", None, transcript("all_invalid.sse"))
    _, summary = run({"url": server.url + "/s", "stream_format": "dify"})
    assert summary["status"] == "incomplete" and summary["success"] is False  # no end marker came
    assert "message_end or workflow_finished" in summary["raised"]
    assert summary["total_events"] == 8 and summary["invalid_events"] == 8
    assert summary["answer"] == ""
    assert summary["invalid_samples"][0] == "<p>line 0 of an HTML error page</p>"
    result = summary["result"]
    assert result["success"] is False
    assert result["error"] == "no valid Dify event arrived (8 invalid)"
