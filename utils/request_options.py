"""The typed options of one run (``RequestOptions``, with its ``Limits``), and how the
``sse_request`` tool's parameters fill them. Reading and checking each value is
``utils/parameters.py``'s work; defaults and bounds come from its table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from utils.errors import InvalidParameter
from utils.parameters import DAEMON_LIMIT_S, MAX_DURATION_LIMIT_S, TOOLS, ToolParams, auth_headers, merge_headers
from utils.secrets import Redactor, is_secret_query_key, url_secrets

__all__ = ["DAEMON_LIMIT_S", "MAX_DURATION_LIMIT_S", "Limits", "RequestOptions", "build_request_options"]

_DEFAULTS = {name: spec.default for name, spec in TOOLS["sse_request"].items()}


@dataclass(frozen=True)
class Limits:
    """Bounds of one run: seconds, counts, bytes (0 where noted: no limit)."""

    connect_timeout: float = _DEFAULTS["timeout"]
    read_timeout: float = _DEFAULTS["read_timeout"]  # longest silence between bytes
    max_duration: float = _DEFAULTS["max_duration"]  # the whole run, reconnects included
    max_events: int = _DEFAULTS["max_events"]  # 0: no limit
    max_retries: int = _DEFAULTS["max_retries"]
    retry_interval_ms: int = _DEFAULTS["retry_interval"]
    max_event_bytes: int = _DEFAULTS["max_event_kb"] * 1024
    max_stream_bytes: int = _DEFAULTS["max_stream_mb"] * 1024 * 1024  # 0: no limit
    spent: float = 0.0  # seconds of max_duration used before the stream starts (dify_app's uploads)

    @property
    def time_left(self) -> float:
        """What is left of ``max_duration`` (seconds) when the stream starts."""
        return self.max_duration - self.spent


@dataclass(frozen=True)
class RequestOptions:
    """One run's request and how to read its stream. ``redactor`` masks every secret the run
    knows; it is built once, from all of them, and never changed."""

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    limits: Limits = Limits()
    ssl_verify: bool = True
    stop_on: tuple[str, ...] = ()
    event_filter: tuple[str, ...] = ()
    stream_format: str = "auto"
    fail_on_stream_error: bool = True
    text_path: str = ""  # JMESPath picking each event's text delta ("" : the format's own)
    usage_path: str = ""  # JMESPath picking the usage object
    cumulative_text: bool = False  # each event repeats the whole text so far
    stream_reasoning: bool = False  # reasoning streams live as the stream variable ``reasoning``
    redactor: Redactor = field(default_factory=Redactor, compare=False, repr=False)

    @property
    def shown_url(self) -> str:
        return self.redactor.url(self.url)


def output_mode(params: Mapping[str, Any], tool: str = "sse_request") -> str:
    """text, events or summary (every tool declares the same ``output_mode``)."""
    return ToolParams(tool, params).choice("output_mode")


def build_request_options(params: Mapping[str, Any], default_headers: list[tuple[str, str]] | None = None
                          ) -> RequestOptions:
    """Validates every parameter of the ``sse_request`` tool, in the order a user reads them."""
    p = ToolParams("sse_request", params)
    url, method = p.url("url"), p.choice("method")
    own_headers, query = p.headers("headers"), p.query("query_params")
    content, content_type = p.body("body")
    if content is not None and method == "GET":
        raise InvalidParameter("body", "a GET request cannot carry a body; choose POST (or another method)")
    token = p.text("auth_token").strip()
    auth = auth_headers(p.choice("auth_type"), token, p.text("auth_header").strip())
    headers, header_secrets = merge_headers(default_headers or [], [*own_headers, *auth])
    if content_type and not any(key.lower() == "content-type" for key, _ in headers):
        headers += (("Content-Type", content_type),)
    secrets = [*url_secrets(url), token, *header_secrets, *(value for key, value in query if is_secret_query_key(key))]
    limits = Limits(
        connect_timeout=p.number("timeout"),
        read_timeout=p.number("read_timeout"),
        max_duration=p.number("max_duration"),
        max_events=p.number("max_events"),
        max_retries=p.number("max_retries"),
        retry_interval_ms=p.number("retry_interval"),
        max_event_bytes=p.number("max_event_kb") * 1024,
        max_stream_bytes=p.number("max_stream_mb") * 1024 * 1024,
    )
    return RequestOptions(
        url=url,
        method=method,
        headers=headers,
        params=tuple(query),
        content=content,
        limits=limits,
        ssl_verify=p.boolean("ssl_verify"),
        stop_on=p.names("stop_on"),
        event_filter=p.names("event_filter"),
        stream_format=p.choice("stream_format"),
        fail_on_stream_error=p.boolean("fail_on_stream_error"),
        text_path=p.jmespath("text_path"),
        usage_path=p.jmespath("usage_path"),
        cumulative_text=p.boolean("cumulative_text"),
        stream_reasoning=p.boolean("stream_reasoning"),
        redactor=Redactor(secrets),
    )
