"""Dify app streams (chat, agent, chatflow, workflow, completion) and Dify blocking answers.

The live text is the answer: ``message.answer`` / ``agent_message.answer`` (chat apps) and
``text_chunk.data.text`` (workflows); ``message_replace`` / ``text_replace`` replace the kept
answer (text already streamed cannot be taken back). The aggregate has the shape of seed
document 2: ``{"success", "data": {workflow_run_id, task_id, status, outputs, metadata{...},
created_at, finished_at, event_count}}`` plus ``answer``, ``conversation_id``, ``message_id``
and one record per finished node. A blocking answer (one JSON document, fed as one event of
type ``BLOCKING_EVENT``) goes through the same handlers, so both modes give the same shape.
"""

from __future__ import annotations

from typing import Any

from httpx_sse import ServerSentEvent

from utils.formats.base import FormatResult, JSONFormat, Usage, as_list, head_name, scalar, text_of, to_float, to_int

BLOCKING_EVENT = "dify_blocking_response"  # the SSE type a blocking answer is fed with
MAX_NODES = 200  # node records kept in the result; the rest are counted
MAX_FILES = 50
SUCCEEDED = frozenset({"succeeded", "partial-succeeded"})

# Dify's StreamEvent catalogue (dify_peers.md 3.2): what ``auto`` recognises as a Dify stream.
DIFY_EVENTS = frozenset({
    "message", "agent_message", "agent_thought", "message_file", "message_replace", "message_end",
    "tts_message", "tts_message_end", "workflow_started", "node_started", "node_finished", "node_retry",
    "iteration_started", "iteration_next", "iteration_completed", "loop_started", "loop_next",
    "loop_completed", "parallel_branch_started", "parallel_branch_finished", "text_chunk", "text_replace",
    "agent_log", "workflow_finished", "workflow_paused", "error", "ping", "human_input_required",
    "human_input_form_filled", "human_input_form_timeout",
})


# Events that never carry the answer nor the app's end: an oversized one is skipped and the run goes on
# (node, iteration, loop, branch and agent records, agent thoughts and logs, TTS audio, file notices).
NOT_NEEDED = frozenset({
    "workflow_started", "node_started", "node_finished", "node_retry", "iteration_started", "iteration_next",
    "iteration_completed", "loop_started", "loop_next", "loop_completed", "parallel_branch_started",
    "parallel_branch_finished", "agent_log", "agent_thought", "tts_message", "tts_message_end", "message_file",
    "human_input_required", "human_input_form_filled", "human_input_form_timeout", "ping",
})


def answer_from_outputs(outputs: Any) -> str:
    """The answer of an app that streamed no text: ``answer``, else ``text``, else a lone string output."""
    if not isinstance(outputs, dict):
        return ""
    for key in ("answer", "text"):
        if isinstance(outputs.get(key), str):
            return outputs[key]
    strings = [v for v in outputs.values() if isinstance(v, str)]
    return strings[0] if len(outputs) == 1 and strings else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class DifyFormat(JSONFormat):
    name = "dify"

    def __init__(self) -> None:
        super().__init__()
        self.event_count = 0
        self.response_mode = "streaming"
        self.task_id: str | None = None
        self.workflow_run_id: str | None = None
        self.conversation_id: str | None = None
        self.message_id: str | None = None
        self.created_at: Any = None
        self.finished_at: Any = None
        self.status: str | None = None  # the workflow's, when the app is a workflow or chatflow
        self.outputs: dict[str, Any] | None = None
        self.elapsed_time: float | None = None
        self.total_steps: int | None = None
        self.workflow_tokens: int | None = None
        self.message_usage: dict[str, Any] = {}
        self.message_ended = False
        self.nodes: list[dict[str, Any]] = []
        self.nodes_dropped = 0
        self.node_count = 0
        self.node_tokens = 0
        self.node_price: float | None = None
        self.node_currency: str | None = None
        self.node_elapsed = 0.0
        self.tts_events = 0
        self.files: list[dict[str, Any]] = []

    def needs(self, event: ServerSentEvent) -> bool:
        """Answer-bearing (``message``, ``agent_message``, ``text_chunk``, the replaces), end
        (``message_end``, ``workflow_finished``, ``error``), blocking and unknown events are needed;
        the ``NOT_NEEDED`` records are not (issue 11, fault 6)."""
        if event.event == BLOCKING_EVENT:
            return True
        return head_name(event, "event") not in NOT_NEEDED

    # -- the hot path ----------------------------------------------------------------------
    def on_json(self, event: ServerSentEvent, obj: dict[str, Any]) -> tuple[str, str]:
        if event.event == BLOCKING_EVENT:
            return self._blocking(obj)
        self.event_count += 1
        if self.task_id is None or (self.conversation_id is None and self.workflow_run_id is None):
            self._envelope(obj)
        name = obj.get("event")
        if name == "message" or name == "agent_message":
            text = obj.get("answer")
            if isinstance(text, str) and text:
                self._keep(text)
                return name, text
            return name, ""
        if name == "text_chunk":
            text = _dict(obj.get("data")).get("text")
            if isinstance(text, str) and text:
                self._keep(text)
                return name, text
            return name, ""
        if not isinstance(name, str) or not name:
            return event.event, ""
        handler = _HANDLERS.get(name)
        if handler is not None:
            handler(self, obj)
        return name, ""

    # -- the other events (each arrives a few times per run) -------------------------------
    def _envelope(self, obj: dict[str, Any]) -> None:
        if self.task_id is None:
            self.task_id = scalar(obj.get("task_id"))
        if self.workflow_run_id is None:
            self.workflow_run_id = scalar(obj.get("workflow_run_id"))
        if self.conversation_id is None:
            self.conversation_id = scalar(obj.get("conversation_id")) or None
        if self.message_id is None:
            self.message_id = scalar(obj.get("message_id")) or None
        if self.created_at is None:
            self.created_at = scalar(obj.get("created_at"))

    def _replace_answer(self, obj: dict[str, Any]) -> None:
        text = obj.get("answer") if obj.get("event") == "message_replace" else _dict(obj.get("data")).get("text")
        if isinstance(text, str):
            self._replace(text)

    def _message_end(self, obj: dict[str, Any]) -> None:
        self.message_ended = True
        self.complete = True
        self.message_id = scalar(obj.get("message_id")) or scalar(obj.get("id")) or self.message_id
        self.message_usage = _dict(_dict(obj.get("metadata")).get("usage"))
        for item in as_list(obj.get("files")):
            self._file(item)

    def _workflow_started(self, obj: dict[str, Any]) -> None:
        data = _dict(obj.get("data"))
        self.workflow_run_id = self.workflow_run_id or scalar(data.get("id"))
        if data.get("created_at") is not None:
            self.created_at = scalar(data["created_at"])

    def _node_finished(self, obj: dict[str, Any]) -> None:
        data = _dict(obj.get("data"))
        meta = _dict(data.get("execution_metadata"))
        tokens, price = to_int(meta.get("total_tokens")), to_float(meta.get("total_price"))
        elapsed = to_float(data.get("elapsed_time"))
        self.node_count += 1
        # An iteration or loop node's metadata already sums the nodes run inside it.
        if not data.get("iteration_id") and not data.get("loop_id"):
            self.node_tokens += tokens or 0
            if price is not None:
                self.node_price = (self.node_price or 0.0) + price
            self.node_elapsed += elapsed or 0.0
        if text_of(meta.get("currency")):
            self.node_currency = meta["currency"]
        if len(self.nodes) >= MAX_NODES:
            self.nodes_dropped += 1
            return
        record = {"node_id": scalar(data.get("node_id")), "title": scalar(data.get("title")),
                  "node_type": scalar(data.get("node_type")), "status": scalar(data.get("status")),
                  "elapsed_time": elapsed, "tokens": tokens, "price": price}
        if data.get("error"):
            record["error"] = data["error"]
        self.nodes.append(record)

    def _workflow_finished(self, obj: dict[str, Any]) -> None:
        data = _dict(obj.get("data"))
        self.workflow_run_id = self.workflow_run_id or scalar(data.get("id"))
        self.status = text_of(data.get("status")) or self.status
        if isinstance(data.get("outputs"), dict):
            self.outputs = data["outputs"]
        self.elapsed_time = to_float(data.get("elapsed_time"))
        self.total_steps = to_int(data.get("total_steps"))
        self.workflow_tokens = to_int(data.get("total_tokens"))
        if data.get("created_at") is not None:
            self.created_at = scalar(data["created_at"])
        self.finished_at = scalar(data.get("finished_at"))
        self.complete = True  # the app's end, whatever its status: a failed workflow also sets the error
        if self.status == "failed":
            self.error = f"the workflow failed: {data.get('error') or 'no reason given'}"
        elif self.status == "stopped":
            self.error = "the workflow was stopped"

    def _workflow_paused(self, obj: dict[str, Any]) -> None:
        self.status = "paused"

    def _error(self, obj: dict[str, Any]) -> None:
        self.complete = True  # Dify ends the stream after an error event
        code, status = obj.get("code") or "error", obj.get("status")
        where = f"{code}, HTTP {status}" if status else str(code)
        self.error = f"{obj.get('message') or 'the app reported an error'} ({where})"

    def _tts(self, obj: dict[str, Any]) -> None:
        self.tts_events += 1  # base64 audio: counted, never text

    def _file(self, item: Any) -> None:
        if isinstance(item, dict) and len(self.files) < MAX_FILES:
            self.files.append({k: item.get(k) for k in ("id", "type", "belongs_to", "url") if k in item})

    def _message_file(self, obj: dict[str, Any]) -> None:
        self._file(obj)

    def _blocking(self, obj: dict[str, Any]) -> tuple[str, str]:
        """A blocking answer: ``/workflows/run`` gives ``{workflow_run_id, task_id, data{...}}`` (the
        data of ``workflow_finished``); chat and completion give the message with ``answer`` and
        ``metadata.usage`` (a whole ``message`` plus ``message_end``)."""
        self.response_mode = "blocking"
        self.event_count += 1
        self._envelope(obj)
        data = obj.get("data")
        if isinstance(data, dict) and "status" in data:
            self._workflow_finished(obj)
            text = answer_from_outputs(self.outputs)
            self._keep(text)
            return "workflow_finished", text
        self._message_end(obj)
        text = obj.get("answer")
        text = text if isinstance(text, str) else ""
        self._keep(text)
        return "message", text

    # -- the end ---------------------------------------------------------------------------
    def finish(self) -> FormatResult:
        if not self._parts and self.outputs:
            self._keep(answer_from_outputs(self.outputs))
        return super().finish()

    def _final_status(self) -> str:
        if self.status:
            return self.status
        if self.error:
            return "failed"
        return "succeeded" if self.message_ended else "running"

    def usage(self) -> Usage:
        usage = self.message_usage
        total = self.workflow_tokens
        if total is None:
            total = to_int(usage.get("total_tokens"))
        if total is None and self.node_count:
            total = self.node_tokens
        price = to_float(usage.get("total_price"))
        if price is None:
            price = self.node_price
        currency = text_of(usage.get("currency")) or self.node_currency
        return Usage(prompt_tokens=to_int(usage.get("prompt_tokens")),
                     completion_tokens=to_int(usage.get("completion_tokens")),
                     total_tokens=total, total_price=price, currency=currency if price is not None else None)

    def result(self) -> dict[str, Any]:
        status = self._final_status()
        usage = self.usage()
        elapsed = self.elapsed_time
        if elapsed is None:
            elapsed = to_float(self.message_usage.get("latency"))
        if elapsed is None and self.node_count:
            elapsed = round(self.node_elapsed, 6)
        answer = self.answer
        if self.outputs is not None or self.status is not None:  # a workflow: its End node's outputs
            outputs = self.outputs or {}
        else:  # a chat or completion app: the answer, as a chatflow's outputs carry it
            outputs = {"answer": answer} if answer else {}
        result: dict[str, Any] = {
            "success": self.error is None and status in SUCCEEDED,
            "data": {
                "workflow_run_id": self.workflow_run_id,
                "task_id": self.task_id,
                "status": status,
                "outputs": outputs,
                "metadata": {
                    "total_tokens": usage.total_tokens,
                    "total_price": usage.total_price,
                    "currency": usage.currency,
                    "elapsed_time": elapsed,
                    "total_steps": self.total_steps if self.total_steps is not None else self.node_count,
                },
                "created_at": self.created_at,
                "finished_at": self.finished_at,
                "event_count": self.event_count,
            },
            "answer": answer,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "nodes": self.nodes,
            "response_mode": self.response_mode,
        }
        if self.nodes_dropped:
            result["nodes_dropped"] = self.nodes_dropped
        if self.tts_events:
            result["tts_events"] = self.tts_events
        if self.files:
            result["files"] = self.files
        if self.error:
            result["error"] = self.error
        elif not result["success"]:
            if not self.event_count and self.invalid_events:
                result["error"] = f"no valid Dify event arrived ({self.invalid_events} invalid)"
            elif status == "running":
                result["error"] = "the stream ended before the app finished"
            else:
                result["error"] = f"the app ended with status {status}"
        return result


_HANDLERS = {
    "message_replace": DifyFormat._replace_answer,
    "text_replace": DifyFormat._replace_answer,
    "message_end": DifyFormat._message_end,
    "workflow_started": DifyFormat._workflow_started,
    "node_finished": DifyFormat._node_finished,
    "workflow_finished": DifyFormat._workflow_finished,
    "workflow_paused": DifyFormat._workflow_paused,
    "error": DifyFormat._error,
    "tts_message": DifyFormat._tts,
    "tts_message_end": DifyFormat._tts,
    "message_file": DifyFormat._message_file,
}
