"""``text_path``: any JSON event stream read through a user-given JMESPath expression.

Each event's data is parsed as JSON, the expression picks the text delta out of it
(``choices[0].delta.content``, ``output.text``, ``data.answer`` ...), and that is streamed. The
query language is JMESPath (https://jmespath.org/specification.html, the ``jmespath`` package):
no expression language of our own. JMESPath cannot see the SSE event name: ``event_filter``
says which events carry text.

What the expression selects: a string is the text; a list of strings is joined (projections
such as ``content[?type=='text'].text`` give lists); null, false (``type == 'delta' && text`` on
another type) or an empty list is no text; any other value (number, true, object, a list holding
one) is skipped and the event counted as invalid.

There is no end marker of its own: like ``raw``, a text_path stream is complete when the transport
ends cleanly (or ``[DONE]`` comes, which the run reports through ``done()``).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import jmespath
from httpx_sse import ServerSentEvent
from jmespath.exceptions import JMESPathError, LexerError, ParseError
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from jmespath.visitor import TreeInterpreter

from utils.errors import InvalidParameter
from utils.formats.base import FormatResult, StreamFormat, Usage, to_int
from utils.formats.cumulative import CUMULATIVE, DELTA, TextField

EXAMPLE = "choices[0].delta.content"
MAX_SHOWN = 80  # characters of a bad expression repeated in its error
_FUNCTIONS = Functions().FUNCTION_TABLE
_NOT_JSON = object()

# Usage field names as providers spell them, lower-cased without '_' / '-', by Usage field.
_USAGE_NAMES = {
    "prompt_tokens": ("prompttokens", "inputtokens", "prompttokencount", "inputtokencount", "inputcount",
                      "prompt", "input"),
    "completion_tokens": ("completiontokens", "outputtokens", "candidatestokencount", "completiontokencount",
                          "outputtokencount", "outputcount", "completion", "output"),
    "total_tokens": ("totaltokens", "totaltokencount", "tokencount", "total"),
}
_USAGE_KEYS = {alias: field for field, aliases in _USAGE_NAMES.items() for alias in aliases}


def compile_path(expression: str, name: str) -> ParsedResult:
    """The compiled JMESPath ``expression`` of parameter ``name``.

    Raises ``InvalidParameter`` (one line: ``Invalid parameter 'text_path': ...``) for an empty or
    malformed expression, an unknown function or a function given the wrong number of arguments,
    which JMESPath itself would only find while reading an event.
    """
    shown = expression if len(expression) <= MAX_SHOWN else expression[:MAX_SHOWN] + "…"
    if not expression.strip():
        raise InvalidParameter(name, f"expected a JMESPath expression such as {EXAMPLE}, got an empty one")
    try:
        parsed = jmespath.compile(expression)
    except LexerError as exc:  # a ParseError too: first
        raise InvalidParameter(name, f"'{shown}' is not a JMESPath expression: {_one_line(exc.message)} "
                                     f"at column {_column(exc.lexer_position)} (e.g. {EXAMPLE})") from None
    except ParseError as exc:
        ends = exc.token_value is None or exc.token_type == "EOF"  # IncompleteExpressionError has no token
        why = "it ends too early" if ends else f"unexpected '{exc.token_value}'"
        raise InvalidParameter(name, f"'{shown}' is not a JMESPath expression: {why} at column "
                                     f"{_column(exc.lex_position)} (e.g. {EXAMPLE})") from None
    except JMESPathError as exc:
        raise InvalidParameter(name, f"'{shown}' is not a JMESPath expression: {_one_line(str(exc))}") from None
    problem = _function_problem(parsed.parsed) or _quoted_path(parsed.parsed)
    if problem:
        raise InvalidParameter(name, f"'{shown}': {problem}")
    return parsed


def _quoted_path(node: dict[str, Any]) -> str | None:
    """A path written in quotes, as agents and copied docs do: it compiles, yet never reads the
    event. In single quotes or backticks the whole expression is a literal (the same value for
    every event); in double quotes it is one key whose name holds the path's dots or brackets."""
    if node.get("type") == "literal":
        return f"is a constant, not a path into the event: write it without the quotes, e.g. {EXAMPLE}"
    key = node.get("value") if node.get("type") == "field" else None
    if isinstance(key, str) and any(c in key for c in ".[") and key.strip():
        try:
            unquoted = jmespath.compile(key).parsed
        except JMESPathError:
            return None
        if unquoted.get("type") != "field":
            return f"reads one key named '{key[:MAX_SHOWN]}'; for a path write it without the quotes"
    return None


def _column(position: object) -> str:
    return str(position + 1) if isinstance(position, int) else "?"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:200]


def _function_problem(node: dict[str, Any]) -> str | None:
    """An unknown function or a wrong argument count anywhere in the expression's tree, else None."""
    stack = [node]
    while stack:
        item = stack.pop()
        if item.get("type") == "function_expression":
            fname, args = item["value"], len(item["children"])
            spec = _FUNCTIONS.get(fname)
            if spec is None:
                return f"JMESPath has no function {fname}()"
            signature = spec["signature"]
            variadic = bool(signature) and signature[-1].get("variadic", False)
            if args < len(signature) or (args > len(signature) and not variadic):
                count = len(signature)
                wanted = f"at least {count}" if variadic else str(count)
                return f"{fname}() takes {wanted} argument{'' if count == 1 else 's'}, not {args}"
        stack.extend(child for child in item.get("children", ()) if isinstance(child, dict))
    return None


def usage_of(value: Any) -> dict[str, int]:
    """Token counts from a usage object as providers name them (``prompt_tokens`` / ``input_tokens``
    / ``promptTokenCount`` / ``input_count`` ..., ``completion_tokens`` / ``output_tokens`` / ...,
    ``total_tokens`` / ``totalTokenCount`` / ``token_count`` ...), by ``Usage`` field name.
    A lone number is a total."""
    if isinstance(value, dict):
        counts: dict[str, int] = {}
        for key, item in value.items():
            field = _USAGE_KEYS.get(key.lower().replace("_", "").replace("-", "")) if isinstance(key, str) else None
            number = to_int(item) if field else None
            if field and number is not None:
                counts[field] = number
        return counts
    number = to_int(value) if isinstance(value, int | float) else None
    return {"total_tokens": number} if number is not None else {}


def to_usage(counts: dict[str, int]) -> Usage:
    """``Usage`` from counts by field name; the total is the sum when the server gives none."""
    prompt, completion, total = (counts.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


class JSONPathFormat(StreamFormat):
    """Events' JSON → ``text_path`` → text deltas; optionally ``usage_path`` → ``Usage``.

    ``cumulative``: each event repeats the whole text so far; only the new suffix is streamed, and
    a text that does not extend the previous one replaces it (see ``TextField``).
    ``event_filter``: when non-empty, only events of those SSE types contribute text (the others
    are still read for usage).
    """

    name = "text_path"
    has_end_marker = False  # like raw: the transport's clean end completes the run

    def __init__(self, text_path: str, usage_path: str = "", cumulative: bool = False,
                 event_filter: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.text_path = text_path
        visit = TreeInterpreter().visit  # one interpreter for the run: ParsedResult.search builds one per call
        self._text = partial(visit, compile_path(text_path, "text_path").parsed)
        self._usage_search = None
        if usage_path.strip():
            self._usage_search = partial(visit, compile_path(usage_path, "usage_path").parsed)
        self.cumulative = cumulative
        self._field = TextField(CUMULATIVE if cumulative else DELTA)
        self.event_filter = frozenset(event_filter)
        self.text_events = 0
        self._usage: dict[str, int] = {}

    def feed(self, event: ServerSentEvent) -> tuple[str, str]:
        kind = event.event
        wanted = not self.event_filter or kind in self.event_filter
        if not wanted:
            if self._usage_search is not None:
                try:
                    self._read_usage(json.loads(event.data))
                except (RecursionError, ValueError):  # not JSON: no usage, and not ours to count
                    pass
            return kind, ""
        obj = self._parse(event.data)
        if obj is _NOT_JSON:
            return ("invalid" if event.data else kind), ""
        if self._usage_search is not None:
            self._read_usage(obj)
        try:
            value = self._text(obj)
        except (JMESPathError, RecursionError, TypeError, ValueError) as exc:  # e.g. length() of a number
            self._invalid(event.data, f"JSON the path cannot read ({type(exc).__name__})")
            return "invalid", ""
        text = self._text_of(value, event.data)
        if text is None:
            return "invalid", ""
        if not text:
            return kind, ""
        delta, whole = self._field.add(text)
        if whole is None:
            self._keep(delta)
        else:
            self._replace(whole)
        self.text_events += 1
        return kind, delta

    def needs(self, event: ServerSentEvent) -> bool:
        """An oversized event matters only if ``event_filter`` lets its type carry text."""
        return not self.event_filter or event.event in self.event_filter

    def _parse(self, data: str) -> Any:
        """The event's JSON (any JSON value: a path may start at an array), or ``_NOT_JSON`` (counted
        invalid unless the data is empty)."""
        if not data:
            return _NOT_JSON
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            self._invalid(data, f"not JSON: {exc.msg} (char {exc.pos})")
        except RecursionError:
            self._invalid(data, "JSON nested too deeply")
        return _NOT_JSON

    def _text_of(self, value: Any, data: str) -> str | None:
        """The text a selected value stands for ("" for none), or None when it is not text."""
        if value is None or value is False:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return "".join(value)
        self._invalid(data, f"text_path selected {_kind(value)}, not a string")
        return None

    def _read_usage(self, obj: Any) -> None:
        """Adds what ``usage_path`` finds; an expression that cannot read this JSON finds nothing."""
        assert self._usage_search is not None
        try:
            value = self._usage_search(obj)
        except (JMESPathError, RecursionError, TypeError, ValueError):
            return
        if value is not None:
            self._usage.update(usage_of(value))  # later figures win; split ones (input, then output) add up

    def usage(self) -> Usage:
        return to_usage(self._usage)

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"text_path": self.text_path, "text_events": self.text_events}
        if self.cumulative:
            result["cumulative"] = True
            if self._field.rewrites:
                result["rewrites"] = self._field.rewrites
        return result

    def finish(self) -> FormatResult:
        outcome = super().finish()
        outcome.complete = self.complete
        return outcome


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list holding non-strings"
    return type(value).__name__
