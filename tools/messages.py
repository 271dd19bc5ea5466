"""Maps one run (its chunks, then its summary) to Dify messages. Shared by this plugin's tools;
it holds no Tool subclass, so a tool module may import it.

What each output mode yields (Dify's tool node: text and *stream* variables stream live into
Answer/End nodes, other variables and JSON are set at the end; Dify's agent reads ``str()`` of every
message, so what summary mode yields is kept short):

- ``text``: per network read, the text as a text message and the answer delta as the stream
  variable ``answer`` (so ``{{#tool.answer#}}`` streams live in an Answer or End node too), and
  with ``stream_reasoning`` the reasoning delta as the stream variable ``reasoning``; then the
  variables and the whole JSON summary.
- ``events``: one JSON line per event as text (and ``reasoning`` live with ``stream_reasoning``);
  then the variables and the whole JSON summary.
- ``summary``: nothing live; the variables, then the JSON summary without what the variables
  already hold and without the kept events (for agents). The ``result`` variable leaves out what
  only repeats or details: the copies of the answer (``result.answer``, a Dify output equal to it:
  the ``answer`` variable holds it) and the Dify per-node records.

A run that fails (incomplete, or the stream reported an error) raises after its live messages and
yields no variables nor summary: Dify's tool node keeps no output of a failed node (only
``error_message``/``error_type`` for fail-branch and default-value; graphon ``ToolNode`` and
``ErrorHandler``), and its agent turns the exception into "tool invoke error: <message>"
(``ToolEngine.agent_invoke``), so the error line itself carries the status and the figures.
Every frame is bounded in bytes and masked (``utils/summary.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

from utils.errors import SSERequestError
from utils.stream_run import StreamRun
from utils.summary import MAX_ERROR_CHARS, MAX_MESSAGE_CHARS, VARIABLE_FIELDS, clip, event_record, fit, lean

logger = logging.getLogger(__name__)

SUMMARY_VARIABLES = VARIABLE_FIELDS
# json.dumps(..., ensure_ascii=False) builds a new encoder per call; events mode calls it per event.
_encode_json = json.JSONEncoder(ensure_ascii=False).encode


def text_pieces(text: str) -> list[str]:
    """Dify joins text messages, so a huge text may travel in pieces of bounded size (at most
    ``MAX_MESSAGE_CHARS`` characters: 1.5 MiB serialized, whatever the characters)."""
    if len(text) <= MAX_MESSAGE_CHARS:
        return [text]
    return [text[i : i + MAX_MESSAGE_CHARS] for i in range(0, len(text), MAX_MESSAGE_CHARS)]


def stream_messages(tool: Tool, run: StreamRun, mode: str) -> Generator[ToolInvokeMessage, None, None]:
    """The run's messages for ``mode`` (text / events / summary); see the module's docstring."""
    streamed = {"answer": [], "reasoning": []}  # what went out live as stream variables
    try:
        for chunk in run.chunks(timestamps=mode == "events"):
            if mode == "text":
                if chunk.text:
                    for piece in text_pieces(chunk.text):
                        yield tool.create_text_message(piece)
                if chunk.answer:
                    streamed["answer"].append(chunk.answer)
                    for piece in text_pieces(chunk.answer):
                        yield tool.create_stream_variable_message("answer", piece)
            elif mode == "events":
                lines = "".join(
                    _encode_json(event_record(event_type, event, chunk.timestamp)) + "\n"
                    for event_type, event in chunk.events
                )
                for piece in text_pieces(lines):
                    yield tool.create_text_message(piece)
            if chunk.reasoning and mode != "summary":
                streamed["reasoning"].append(chunk.reasoning)
                for piece in text_pieces(chunk.reasoning):
                    yield tool.create_stream_variable_message("reasoning", piece)
    except SSERequestError as exc:
        _bound_error(run, exc)
        if run.summary is not None:
            logger.info("%s", run.summary.sentence)
        raise
    summary = run.summary.as_dict()
    logger.info("%s", summary["summary"])
    values = run.summary.as_dict(bound=False)  # each variable is bounded alone, not by the summary's room
    if mode == "summary":
        values["result"] = agent_result(values.get("result"), values.get("answer"))
    for name in SUMMARY_VARIABLES:
        value = values.get(name)
        if value is None:
            continue
        if name in streamed and streamed[name] and "".join(streamed[name]) == value:
            continue  # the stream variable already holds exactly this value: not sent twice
        yield tool.create_variable_message(name, fit(value))
    yield tool.create_json_message(lean(summary) if mode == "summary" else summary)


def agent_result(result: object, answer: object) -> object:
    """``result`` as summary mode sends it: without the copies of the answer (``result.answer``, and a
    Dify output equal to it: the ``answer`` variable holds it) and without the Dify node records, which
    an agent would otherwise read again (Dify's agent reads ``str()`` of every variable)."""
    if not isinstance(result, dict):
        return result
    lean = {key: value for key, value in result.items() if key != "nodes" and not (key == "answer" and value == answer)}
    data = lean.get("data")
    if isinstance(data, dict) and isinstance(data.get("outputs"), dict) and answer:
        outputs = {key: value for key, value in data["outputs"].items() if value != answer}
        lean["data"] = {**data, "outputs": outputs}
    return lean


def _bound_error(run: StreamRun, exc: SSERequestError) -> None:
    """The error frame carries ``str(exc)`` twice (message and traceback): one masked line of at
    most ``MAX_ERROR_CHARS`` characters, with no chained exception behind it."""
    redactor = run.options.redactor
    text = " ".join(redactor(str(exc)).split())
    exc.args = (clip(text, MAX_ERROR_CHARS),)
    exc.__cause__ = None
    exc.__suppress_context__ = True
