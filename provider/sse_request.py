"""Validates the administrator's settings with the parsers the tools use.

Every failure, whatever raised it (our parsers, httpx, the network policy), becomes the SDK's
``ToolProviderCredentialValidationError`` with one line, in which every secret of the settings
(the credential parts of ``test_url``, every default header value) is masked."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dify_plugin import ToolProvider
from dify_plugin.errors.tool import ToolProviderCredentialValidationError

from utils.errors import SSERequestError
from utils.secrets import Redactor, url_secrets

# The parsers and the client are imported at first use, not when the SDK loads this class at
# start-up (issue 19: start-up <= 60 ms); main.warm_up imports them right after the first heartbeat.

MAX_MESSAGE_CHARS = 500


def settings_redactor(credentials: Mapping[str, Any]) -> Redactor:
    """Every secret the settings hold, read from the raw fields so that it masks even an error
    about a field that does not parse: the credential parts of test_url, and every default
    header value (the field is a secret input), or every word of the field when it does not parse."""
    from utils.parameters import parse_headers

    test_url = str(credentials.get("test_url") or "").strip()
    headers = str(credentials.get("default_headers") or "")
    try:
        values = [value for _, value in parse_headers(headers, "default_headers")]
    except Exception:  # the error is reported by parse_settings; here only its secrets count
        values = re.split(r"[\s\"'{}\[\],:]+", headers)
    return Redactor([*url_secrets(test_url), *values])


def one_line(exc: BaseException, redactor: Redactor, test_url: str) -> str:
    """The error as the one line an administrator sees, every secret masked."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, SSERequestError):  # not one of ours: say what failed and what kind of error it is
        where = f"check test_url {redactor.url(test_url)}" if test_url else "read the settings"
        text = f"Could not {where}: {type(exc).__name__}" + (f": {text}" if text else "")
    text = redactor(text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


class SseRequestProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        from utils.provider_settings import parse_settings
        from utils.request_options import Limits, RequestOptions
        from utils.sse_client import SSEClient

        redactor, test_url = Redactor(), ""
        try:
            redactor = settings_redactor(credentials or {})
            settings = parse_settings(credentials)
            if settings.test_url:
                test_url = settings.test_url
                options = RequestOptions(url=settings.test_url, headers=settings.default_headers,
                                         limits=Limits(connect_timeout=10, read_timeout=10, max_duration=20),
                                         redactor=redactor)
                SSEClient(options, settings.policy).probe()
        except Exception as exc:  # every failure is the SDK's validation error, one masked line
            raise ToolProviderCredentialValidationError(one_line(exc, redactor, test_url)) from None
