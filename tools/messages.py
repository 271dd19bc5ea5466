"""Maps one run (its chunks, then its summary) to Dify messages. Shared by this plugin's tools;
it holds no Tool subclass, so a tool module may import it."""

from __future__ import annotations

import json
import logging
from collections.abc import Generator

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from utils.stream_run import StreamRun
from utils.summary import event_record

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 256 * 1024  # one text message; keeps every stdout line far below 5 MiB
SUMMARY_VARIABLES = ("success", "status", "total_events", "connection_duration", "http_status", "reconnects",
                     "format", "answer", "usage", "result")
# json.dumps(..., ensure_ascii=False) builds a new encoder per call; events mode calls it per event.
_encode_json = json.JSONEncoder(ensure_ascii=False).encode


def text_pieces(text: str) -> list[str]:
    """Dify joins text messages, so a huge text may travel in pieces of bounded size."""
    if len(text) <= MAX_MESSAGE_CHARS:
        return [text]
    return [text[i : i + MAX_MESSAGE_CHARS] for i in range(0, len(text), MAX_MESSAGE_CHARS)]


def stream_messages(tool: Tool, run: StreamRun, mode: str) -> Generator[ToolInvokeMessage, None, None]:
    """text: the text of each network read as one message; events: one JSON line per event;
    summary: nothing until the end. Then the key figures as variables, and the JSON summary last."""
    for chunk in run.chunks():
        if mode == "text":
            if chunk.text:
                for piece in text_pieces(chunk.text):
                    yield tool.create_text_message(piece)
        elif mode == "events":
            lines = "".join(
                _encode_json(event_record(event_type, event, chunk.timestamp)) + "\n"
                for event_type, event in chunk.events
            )
            for piece in text_pieces(lines):
                yield tool.create_text_message(piece)
    summary = run.summary.as_dict()
    logger.info("%s", summary["summary"])
    for name in SUMMARY_VARIABLES:
        if summary.get(name) is not None:
            yield tool.create_variable_message(name, summary[name])
    yield tool.create_json_message(summary)
