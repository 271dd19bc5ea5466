"""The ``sse_request`` tool: Dify parameters in, Dify messages out. The work is in ``utils/``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage


class SseRequestTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        # Imported at the first call, not when the SDK loads this class at start-up (issue 19:
        # start-up <= 60 ms); main.warm_up imports them right after the first heartbeat.
        from tools.messages import stream_messages
        from utils.provider_settings import parse_settings
        from utils.request_options import build_request_options, output_mode
        from utils.stream_run import StreamRun

        settings = parse_settings(self.runtime.credentials)
        options = build_request_options(tool_parameters, list(settings.default_headers))
        mode = output_mode(tool_parameters)
        yield from stream_messages(self, StreamRun(options, settings.policy), mode)
