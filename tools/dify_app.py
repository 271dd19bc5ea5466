"""The ``dify_app`` tool: call another Dify app (chat, workflow, completion) and stream its answer.
Dify parameters in, Dify messages out; the request is built in ``utils/dify_api.py`` and runs
through the same ``StreamRun`` and ``dify`` format as ``sse_request``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from tools.messages import stream_messages
from utils.dify_api import build_dify_request, dify_run
from utils.provider_settings import parse_settings
from utils.request_options import output_mode


class DifyAppTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        settings = parse_settings(self.runtime.credentials)
        request = build_dify_request(tool_parameters, list(settings.default_headers), self.runtime.user_id)
        mode = output_mode(tool_parameters, "dify_app")
        yield from stream_messages(self, dify_run(request, settings.policy), mode)
