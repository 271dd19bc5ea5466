"""Masking of secrets: tokens, credential headers, and credentials inside URLs.

A ``Redactor`` is built per run from everything secret that run knows (the auth token, the
values of credential headers, user:password and secret query values of the URL) and masks
those strings wherever they appear in text that leaves the plugin: messages, summaries, logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlsplit

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


def is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_HEADERS or bool(_SECRET_WORDS.search(lowered))


def is_secret_query_key(name: str) -> bool:
    return bool(_SECRET_WORDS.search(name))


def url_secrets(url: str) -> list[str]:
    """The credential parts of a URL: user info and values of secret-looking query keys."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    if parts.username:
        found.append(parts.username)
    if parts.password:
        found.append(parts.password)
    found.extend(value for key, value in parse_qsl(parts.query) if is_secret_query_key(key))
    return found


class Redactor:
    """Replaces every known secret in a string with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        new = {s for s in secrets if s and len(s) >= _MIN_SECRET} - self._secrets
        if not new:
            return
        self._secrets |= new
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered)))

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def found_in(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def url(self, url: str) -> str:
        """A URL fit to show: user info dropped, secret query values masked."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self(url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        if parts.username or parts.password:
            netloc = f"{MASK}@{netloc}"
        shown = parts._replace(netloc=netloc).geturl()
        return self(shown)
