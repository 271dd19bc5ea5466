"""Masking of secrets: tokens, credential headers, and credentials inside URLs.

A ``Redactor`` is built per run from everything secret that run knows (the auth token, the
values of credential headers, user:password and secret query values of the URL) and masks
every form of those strings wherever they appear in text that leaves the plugin: messages,
summaries, errors, logs. The forms of one secret:

- as given, with its ASCII letters in any case (a host name or a hex digest may come back
  lower-cased);
- percent-encoded, in part or in whole, with either hex case, ``+`` for a space (RFC 3986 2.1,
  HTML form encoding), and JSON-escaped (``\\/``, ``\\"``, ``\\uXXXX``), as a server that
  echoes a URL or a JSON body writes it;
- for a ``user:password`` pair, the password alone and the pair's Base64 (standard, URL-safe, with or without padding): the
  ``Authorization: Basic`` value (RFC 7617 2); for a header value ``<scheme> <credential>``,
  the credential alone (the token after ``Bearer ``), and for a Basic credential the pair and
  the password it decodes to.

Strings shorter than 8 characters are never masked (they would mask ordinary words). Every
redactor that holds a secret is known to ``SecretsFilter`` while it lives, so a log line
written by any module is masked for every run in flight.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import weakref
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"

# Header names whose values are credentials (compared lower-case).
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-goog-api-key",
        "ocp-apim-subscription-key",
    }
)
# Query keys whose values are credentials.
_SECRET_WORDS = re.compile(r"(?:key|token|secret|password|passwd|pwd|auth|signature|sig|credential)", re.I)
_MIN_SECRET = 8  # a shorter "secret" would mask ordinary words in the stream; such a token is no secret
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_UNRESERVED_RUN = re.compile(r"[A-Za-z0-9._~-]+")
_SCHEME_VALUE = re.compile(r"[A-Za-z][A-Za-z0-9._~+/-]* +(\S.*)", re.S)  # "Bearer <token>"
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                 "\t": "\\t"}

# Every redactor that holds a secret, while it lives (see SecretsFilter).
_LIVE: weakref.WeakSet[Redactor] = weakref.WeakSet()


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or bool(_SECRET_WORDS.search(lowered))


def is_secret_query_key(name: str) -> bool:
    return bool(_SECRET_WORDS.search(name))


def basic_pair(user: str, password: str) -> str:
    """``user:password`` as the Basic scheme encodes it (RFC 7617 2, UTF-8 as httpx does)."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def url_secrets(url: str) -> list[str]:
    """The credential parts of a URL: user info (decoded, and as the ``user:password`` pair a
    Basic header is built from) and values of secret-looking query keys."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    found.extend(s for s in (user, password) if s)
    if user or password:
        found.append(f"{user}:{password}")
    found.extend(value for key, value in parse_qsl(parts.query) if is_secret_query_key(key))
    return found


def secret_forms(secret: str) -> set[str]:
    """The literal strings that stand for ``secret`` (before any encoding): itself, the
    credential of a ``<scheme> <credential>`` value, the pair a Basic credential decodes to, and
    for a ``user:password`` pair its password and its Base64."""
    forms = {secret}
    scheme = _SCHEME_VALUE.fullmatch(secret)
    if scheme:
        forms.add(scheme.group(1))
    for form in list(forms):
        try:
            decoded = base64.b64decode(form, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            decoded = ""
        if ":" in decoded and decoded.isprintable():  # a Basic credential: the pair (and its forms, below)
            forms.add(decoded)
    for form in list(forms):
        if ":" in form:  # a user:password pair: the password, and the Basic credential built from the pair
            encoded = base64.b64encode(form.encode()).decode()
            forms |= {form.split(":", 1)[1], encoded, encoded.rstrip("="), encoded.translate(str.maketrans("+/", "-_"))}
    return {f for f in forms if len(f) >= _MIN_SECRET}


def _char_pattern(char: str) -> str:
    """A regex for one character of a secret in any encoding a server may echo it in."""
    if char in _UNRESERVED:
        return re.escape(char)
    options = {re.escape(char), "".join(f"%{b:02X}" for b in char.encode())}
    if char == " ":
        options.add(r"\+")
    if char in _JSON_ESCAPES:
        options.add(re.escape(_JSON_ESCAPES[char]))
    elif not char.isascii() or not char.isprintable():
        options.add(re.escape(f"\\u{ord(char):04x}") if ord(char) < 0x10000 else re.escape(char))
    return "(?:" + "|".join(sorted(options)) + ")"


def _pattern(secret: str) -> str:
    return "".join(_char_pattern(c) for c in secret)


class Redactor:
    """Replaces every form of every known secret in a string with ``***``.

    ``found_in`` is a substring test per secret (the longest run of unreserved characters, which
    every encoded form keeps) and, only when one is present, one compiled-pattern search;
    ``__call__`` substitutes only when ``found_in``. A redactor with no secret (``active``
    false) does nothing, so a run without secrets pays nothing."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None  # masks, in any letter case
        self._lower: re.Pattern[str] | None = None  # finds, in lower-cased text (IGNORECASE is ~20x slower)
        self._runs: tuple[str, ...] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Adds secrets (and their forms). Build a redactor once where possible: this recompiles."""
        new: set[str] = set()
        for secret in secrets:
            if secret:
                new |= secret_forms(secret)
        new -= self._secrets
        if not new:
            return
        self._secrets |= new
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(self._secrets, key=lambda s: (-len(s), s))
        self._pattern = re.compile("|".join(map(_pattern, ordered)), re.IGNORECASE)
        self._lower = re.compile("|".join(_pattern(s).lower() for s in ordered))
        # Every encoded form of a secret keeps its runs of unreserved characters: when the longest
        # run of each secret is absent from a text (a plain substring test, far cheaper than the
        # pattern), no secret is in it.
        runs = [max(_UNRESERVED_RUN.findall(s), key=len, default="").lower() for s in ordered]
        self._runs = tuple(dict.fromkeys(runs)) if all(runs) else None
        _LIVE.add(self)

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def found_in(self, text: str) -> bool:
        if self._lower is None:
            return False
        lowered = text.lower()
        if self._runs is not None and not any(run in lowered for run in self._runs):
            return False
        return self._lower.search(lowered) is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text or not self.found_in(text):
            return text
        return self._pattern.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """``value`` with every string in it masked (dicts, lists and tuples walked; keys too)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value

    def url(self, url: str) -> str:
        """A URL fit to show: user info replaced by ``***``, the value of every secret-looking
        query key masked whatever its length or encoding, then every known secret masked."""
        try:
            parts = urlsplit(url)
            netloc = parts.hostname or ""
            port = parts.port
        except ValueError:
            return self(url)
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if port:
            netloc = f"{netloc}:{port}"
        if parts.username or parts.password:
            netloc = f"{MASK}@{netloc}"
        query = "&".join(_masked_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
        shown = parts._replace(netloc=netloc, query=query).geturl()
        return self(shown)


def _masked_pair(pair: str) -> str:
    key, equals, _ = pair.partition("=")
    return f"{key}={MASK}" if equals and is_secret_query_key(unquote(key.replace("+", " "))) else pair


def mask_everywhere(text: str) -> str:
    """``text`` with the secrets of every run in flight masked."""
    for redactor in list(_LIVE):
        text = redactor(text)
    return text


class SecretsFilter(logging.Filter):
    """A logging filter that masks, in every record it sees, the secrets of every run in flight
    (every live ``Redactor``): attach it to a handler, and whatever a module logs (message,
    arguments, exception text) leaves masked. Costs nothing while no run holds a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _LIVE:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit: the handler reports it as usual
            return True
        masked = mask_everywhere(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info:
            record.exc_text = mask_everywhere(record.exc_text or logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = mask_everywhere(record.stack_info)
        return True


def install_log_filter(*handlers: logging.Handler) -> SecretsFilter:
    """Adds one ``SecretsFilter`` to each handler (and to ``logging.lastResort``, which writes
    warnings of loggers without a handler to stderr). Returns the filter."""
    secrets_filter = SecretsFilter()
    for handler in (*handlers, logging.lastResort):
        if handler is not None and not any(isinstance(f, SecretsFilter) for f in handler.filters):
            handler.addFilter(secrets_filter)
    return secrets_filter
