"""Validates the administrator's settings with the parsers the tools use."""

from typing import Any

from dify_plugin import ToolProvider
from dify_plugin.errors.tool import ToolProviderCredentialValidationError

from utils.errors import SSERequestError
from utils.provider_settings import parse_settings
from utils.request_options import Limits, RequestOptions
from utils.secrets import Redactor
from utils.sse_client import SSEClient


class SseRequestProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        try:
            settings = parse_settings(credentials)
            if settings.test_url:
                redactor = Redactor(value for _, value in settings.default_headers)
                options = RequestOptions(url=settings.test_url, headers=settings.default_headers,
                                         limits=Limits(connect_timeout=10, read_timeout=10), redactor=redactor)
                SSEClient(options, settings.policy).probe()
        except SSERequestError as exc:
            raise ToolProviderCredentialValidationError(str(exc)) from None
