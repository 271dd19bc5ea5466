"""Dify tool parameters in, a validated ``RequestOptions`` out, before any connection is made.

Every check names the parameter and what was expected. Nothing here touches the network.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from utils.errors import InvalidParameter
from utils.secrets import Redactor, is_secret_header, is_secret_query_key, url_secrets
from utils.user_input import parse_body, parse_headers, parse_list, parse_query

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
AUTH_TYPES = ("none", "bearer", "basic", "api_key")
OUTPUT_MODES = ("text", "events", "summary")
FORMATS = ("auto", "raw", "dify", "openai", "anthropic", "gemini")

# The Dify plugin daemon cuts a call at 600 s; a run must end, summary included, before that.
DAEMON_LIMIT_S = 600
MAX_DURATION_LIMIT_S = 570


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = 30.0
    read_timeout: float = 120.0  # longest silence between bytes
    max_duration: float = 300.0  # the whole run, reconnects included
    max_events: int = 0  # 0: no limit
    max_retries: int = 3
    retry_interval_ms: int = 1000
    max_event_bytes: int = 1024 * 1024
    max_stream_bytes: int = 256 * 1024 * 1024  # 0: no limit


@dataclass(frozen=True)
class RequestOptions:
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
    redactor: Redactor = field(default_factory=Redactor, compare=False, repr=False)

    @property
    def shown_url(self) -> str:
        return self.redactor.url(self.url)


def text_param(params: Mapping[str, Any], name: str) -> str:
    """A parameter as text ("" when absent; an object Dify already parsed, back as JSON)."""
    value = params.get(name)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):  # Dify may hand over an already-parsed object
        return json.dumps(value)
    return str(value)


def choice(params: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = text_param(params, name).strip() or default
    value = raw.upper() if choices is METHODS else raw.lower()
    if value not in choices:
        raise InvalidParameter(name, f"'{raw[:40]}' is not one of {', '.join(choices)}")
    return value


def number(params: Mapping[str, Any], name: str, default: float, low: float, high: float,
           integer: bool = False) -> float:
    value = params.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        raise InvalidParameter(name, f"expected a number from {low:g} to {high:g}, got a boolean")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(name, f"expected a number from {low:g} to {high:g}, got '{str(value)[:40]}'") from None
    if math.isnan(result) or not low <= result <= high:
        raise InvalidParameter(name, f"expected a number from {low:g} to {high:g}, got {str(value)[:40]}")
    if integer:
        if result != int(result):
            raise InvalidParameter(name, f"expected a whole number, got {value}")
        return int(result)
    return result


def boolean(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InvalidParameter(name, f"expected true or false, got '{text[:40]}'")


def check_url(raw: str, name: str = "url") -> str:
    url = raw.strip()
    if not url:
        raise InvalidParameter(name, "a URL is required, such as https://example.com/stream")
    if any(c in url for c in "\r\n\t\0 "):
        raise InvalidParameter(name, "the URL contains white space or control characters")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        shown = scheme or url[:20]
        raise InvalidParameter(name, f"only http:// and https:// URLs are supported, got '{shown}'")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidParameter(name, f"the URL is malformed ({str(exc).splitlines()[0][:80]})") from None
    if not parsed.host:
        raise InvalidParameter(name, "the URL has no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise InvalidParameter(name, f"the URL has an invalid port {parsed.port}")
    return url


def auth_headers(auth_type: str, token: str, header: str) -> list[tuple[str, str]]:
    if auth_type == "none":
        return []
    if not token:
        raise InvalidParameter("auth_token", f"auth_type '{auth_type}' needs a token")
    if any(c in token for c in "\r\n\0"):
        raise InvalidParameter("auth_token", "the token contains a line break or NUL")
    if auth_type == "bearer":
        return [("Authorization", f"Bearer {token}")]
    if auth_type == "basic":
        # "user:password" is encoded; anything else is taken as already encoded (as Dify's HTTP node does).
        value = base64.b64encode(token.encode()).decode() if ":" in token else token
        return [("Authorization", f"Basic {value}")]
    parse_headers(f"{header}: x", "auth_header")  # a valid header name
    return [(header, token)]


def merge_headers(defaults: Iterable[tuple[str, str]], headers: Iterable[tuple[str, str]], redactor: Redactor
                  ) -> dict[str, tuple[str, str]]:
    """The request's headers by lower-case name: the administrator's defaults first, replaced by
    the request's own of the same name. Every default value is secret (the field is a secret
    input), and so is every value of a credential header; all go to the redactor."""
    merged: dict[str, tuple[str, str]] = {}
    defaults = list(defaults)
    redactor.add(*(value for _, value in defaults))
    for key, value in [*defaults, *headers]:
        merged[key.lower()] = (key, value)
        if is_secret_header(key):
            redactor.add(value, value.split(" ", 1)[-1])  # "Bearer <token>": the token alone too
    return merged


def output_mode(params: Mapping[str, Any]) -> str:
    return choice(params, "output_mode", OUTPUT_MODES, "text")


def build_request_options(params: Mapping[str, Any], default_headers: list[tuple[str, str]] | None = None
                          ) -> RequestOptions:
    """Validates every parameter of the ``sse_request`` tool, in the order a user reads them."""
    url = check_url(text_param(params, "url"))
    method = choice(params, "method", METHODS, "GET")
    headers = parse_headers(text_param(params, "headers"))
    query = parse_query(text_param(params, "query_params"))
    content, content_type = parse_body(text_param(params, "body"))
    if content is not None and method == "GET":
        raise InvalidParameter("body", "a GET request cannot carry a body; choose POST (or another method)")

    auth_type = choice(params, "auth_type", AUTH_TYPES, "none")
    token = text_param(params, "auth_token").strip()
    auth_header = text_param(params, "auth_header").strip() or "X-API-Key"

    redactor = Redactor(url_secrets(url))
    if token:
        redactor.add(token)
    merged = merge_headers(default_headers or [], [*headers, *auth_headers(auth_type, token, auth_header)], redactor)
    if content_type and "content-type" not in merged:
        merged["content-type"] = ("Content-Type", content_type)
    redactor.add(*(value for key, value in query if is_secret_query_key(key)))

    limits = Limits(
        connect_timeout=number(params, "timeout", 30, 1, 300),
        read_timeout=number(params, "read_timeout", 120, 1, MAX_DURATION_LIMIT_S),
        max_duration=number(params, "max_duration", 300, 1, MAX_DURATION_LIMIT_S),
        max_events=number(params, "max_events", 0, 0, 10_000_000, integer=True),
        max_retries=number(params, "max_retries", 3, 0, 20, integer=True),
        retry_interval_ms=number(params, "retry_interval", 1000, 0, 60_000, integer=True),
        max_event_bytes=number(params, "max_event_kb", 1024, 1, 4096, integer=True) * 1024,
        max_stream_bytes=number(params, "max_stream_mb", 256, 0, 4096, integer=True) * 1024 * 1024,
    )
    return RequestOptions(
        url=url,
        method=method,
        headers=tuple(merged.values()),
        params=tuple(query),
        content=content,
        limits=limits,
        ssl_verify=boolean(params, "ssl_verify", True),
        stop_on=tuple(parse_list(text_param(params, "stop_on"))),
        event_filter=tuple(parse_list(text_param(params, "event_filter"))),
        stream_format=choice(params, "stream_format", FORMATS, "auto"),
        fail_on_stream_error=boolean(params, "fail_on_stream_error", True),
        redactor=redactor,
    )
