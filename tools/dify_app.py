"""The ``dify_app`` tool: call another Dify app (chat, workflow, completion) and stream its answer.
Dify parameters in, Dify messages out; the request is built in ``utils/dify_api.py`` and runs
through the same ``StreamRun`` and ``dify`` format as ``sse_request``."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage
from dify_plugin.file.file import File

# utils/ and tools.messages are imported at the first call, not when the SDK loads this class at
# start-up (issue 19: start-up <= 60 ms); main.warm_up imports them right after the first heartbeat.


def plain_files(value: Any) -> Any:
    """The SDK's ``File`` objects (built from the file dicts Dify sends) as ``DifyFile``s; any
    other value is left for ``utils/`` to judge. The bytes are read by ``utils/dify_files.py`` on
    the run's policy-checked transport, not by ``File.blob``."""
    from utils.dify_files import DifyFile

    if isinstance(value, File):
        return DifyFile(filename=value.filename or "", url=value.url, mime_type=value.mime_type or "",
                        extension=value.extension or "", size=value.size)
    if isinstance(value, list):
        return [plain_files(item) for item in value]
    return value


class DifyAppTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        from tools.messages import stream_messages
        from utils.dify_api import build_dify_request, dify_run
        from utils.provider_settings import parse_settings
        from utils.request_options import output_mode

        settings = parse_settings(self.runtime.credentials)
        params = {**tool_parameters, "upload_files": plain_files(tool_parameters.get("upload_files"))}
        request = build_dify_request(params, list(settings.default_headers), self.runtime.user_id)
        mode = output_mode(tool_parameters, "dify_app")
        yield from stream_messages(self, dify_run(request, settings.policy), mode)
