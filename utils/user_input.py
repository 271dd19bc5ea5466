"""Parsing of what a Dify user (or an agent) types into headers, query and body fields.

Headers and query accept a JSON object or ``Key: Value`` lines as in Dify's HTTP Request node;
query also accepts ``a=1&b=2``. Plain data out; errors name the parameter and what was expected.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from utils.errors import InvalidParameter

# RFC 9110 token characters for a header name.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _json_error(name: str, exc: json.JSONDecodeError) -> InvalidParameter:
    return InvalidParameter(name, f"JSON does not parse at line {exc.lineno} column {exc.colno}: {exc.msg}")


def _scalar(name: str, key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise InvalidParameter(name, f"the value of '{key}' must be a string or number, not {type(value).__name__}")


def _pairs_from_json(name: str, text: str) -> list[tuple[str, str]] | None:
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise _json_error(name, exc) from None
    if not isinstance(value, dict):
        raise InvalidParameter(name, "expected a JSON object such as {\"Key\": \"value\"}")
    pairs: list[tuple[str, str]] = []
    for key, item in value.items():
        if isinstance(item, list):  # {"tag": ["a", "b"]} repeats the key
            pairs.extend((key, _scalar(name, key, v)) for v in item)
        elif item is not None:
            pairs.append((key, _scalar(name, key, item)))
    return pairs


def _check_header(name: str, key: str, value: str) -> None:
    if not key or not set(key) <= _TCHAR:
        raise InvalidParameter(name, f"'{key[:40]}' is not a valid header name (letters, digits and -_. only)")
    if any(c in value for c in "\r\n\0"):
        raise InvalidParameter(name, f"the value of header '{key}' contains a line break or NUL")


def parse_headers(text: str | None, name: str = "headers") -> list[tuple[str, str]]:
    """``{"A": "1"}`` or ``A: 1`` lines (blank lines skipped; a line without ':' is refused)."""
    if not text or not text.strip():
        return []
    pairs = _pairs_from_json(name, text)
    if pairs is None:
        pairs = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            key, colon, value = line.partition(":")
            if not colon:
                raise InvalidParameter(name, f"line {number} is not 'Key: Value'")
            pairs.append((key.strip(), value.strip()))
    for key, value in pairs:
        _check_header(name, key, value)
    return pairs


def parse_query(text: str | None, name: str = "query_params") -> list[tuple[str, str]]:
    """``{"a": 1}``, ``a=1&b=2``, or ``a: 1`` / ``a=1`` lines. Repeated keys are kept."""
    if not text or not text.strip():
        return []
    pairs = _pairs_from_json(name, text)
    if pairs is not None:
        return pairs
    stripped = text.strip()
    if "\n" not in stripped and ":" not in stripped:
        stripped = stripped.lstrip("?")
        pairs = parse_qsl(stripped, keep_blank_values=True)
        if not pairs or any(not k for k, _ in pairs):
            raise InvalidParameter(name, "expected a=1&b=2, 'key: value' lines or a JSON object")
        return pairs
    pairs = []
    for number, raw in enumerate(stripped.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        colon, equals = line.find(":"), line.find("=")
        cut = min(i for i in (colon, equals, len(line)) if i >= 0)
        key, value = line[:cut].strip(), line[cut + 1 :].strip()
        if not key:
            raise InvalidParameter(name, f"line {number} has no key")
        pairs.append((key, value))
    return pairs


def parse_body(text: str | None, name: str = "body") -> tuple[bytes | None, str | None]:
    """Returns (content, content type). A body that looks like JSON must parse as JSON."""
    if text is None or text == "":
        return None, None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise _json_error(name, exc) from None
        return stripped.encode("utf-8"), "application/json"
    return text.encode("utf-8"), "text/plain; charset=utf-8"


def parse_list(text: str | None) -> list[str]:
    """A comma- or newline-separated list, or a JSON array of strings."""
    if not text or not text.strip():
        return []
    stripped = text.strip()
    if stripped.startswith("[") and stripped != "[DONE]":
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
    return [item.strip() for item in stripped.replace("\n", ",").split(",") if item.strip()]
