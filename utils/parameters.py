"""Dify tool parameters in, plain checked values out: the table of every tool parameter and the
coercion of each kind of value Dify (or an agent) hands over.

``TOOLS`` holds each tool's parameters in the order of its YAML, with Dify's type, form, default
and bounds; ``tools/*.yaml`` take those fields from it (``python -m devkit.tool_yaml`` writes them,
``tests/test_parameters.py`` fails when the two disagree). ``ToolParams`` reads one call's values
through that table. Every parser here is bounded and raises nothing but ``InvalidParameter``:
one line naming the parameter and what was expected, before any connection is made.
"""

from __future__ import annotations

import ast
import base64
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx

from utils.dify_files import DifyFile, file_type
from utils.errors import BlockedAddress, InvalidParameter
from utils.formats.json_path import compile_path  # its wording is the README's: one line, with the column
from utils.network_policy import check_host_name, parse_ip
from utils.secrets import is_secret_header

# The Dify plugin daemon cuts a call at 600 s; a run must end, summary included, before that.
DAEMON_LIMIT_S = 600
MAX_DURATION_LIMIT_S = 570
# A Python literal is parsed into a tree ~200 times its size, ~2 ms per KiB on one core (a call
# holds the plugin's only thread meanwhile): longer text is read as JSON only.
MAX_LITERAL_CHARS = 64 * 1024
MAX_PATH_CHARS = 1024  # a JMESPath picking a field is a line, not a program

# A Start node's variable name (Dify's workflow editor: a letter or _, then letters, digits, _).
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
# RFC 9110 token characters for a header name.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Param:
    """One parameter as the tool's YAML declares it (Dify's ``ToolParameter`` fields)."""

    type: str  # string, number, boolean, select, secret-input, files (a list of Dify files)
    form: str = "form"  # llm: an agent fills it; form: the workflow's author sets it
    default: Any = None
    min: float | None = None
    max: float | None = None
    integer: bool = False  # a number that must be whole (not a YAML field: checked here)
    options: tuple[str, ...] = ()
    required: bool = False


def _select(default: str, *options: str, form: str = "form") -> Param:
    return Param("select", form, default, options=(default, *(o for o in options if o != default)))


OUTPUT_MODE = _select("text", "events", "summary")
READ_TIMEOUT = Param("number", default=120, min=1, max=MAX_DURATION_LIMIT_S)
MAX_DURATION = Param("number", default=300, min=1, max=MAX_DURATION_LIMIT_S)
MAX_EVENT_KB = Param("number", default=1024, min=1, max=4096, integer=True)
SSL_VERIFY = Param("boolean", default=True)
FAIL_ON_STREAM_ERROR = Param("boolean", default=True)

TOOLS: dict[str, dict[str, Param]] = {
    "sse_request": {
        "url": Param("string", "llm", required=True),
        "method": _select("GET", "POST", "PUT", "PATCH", "DELETE", form="llm"),
        "headers": Param("string", "llm"),
        "query_params": Param("string", "llm"),
        "body": Param("string", "llm"),
        "auth_type": _select("none", "bearer", "basic", "api_key"),
        "auth_token": Param("secret-input"),
        "auth_header": Param("string", default="X-API-Key"),
        "output_mode": OUTPUT_MODE,
        "stream_format": _select("auto", "raw", "dify", "openai", "anthropic", "gemini", "dashscope"),
        "text_path": Param("string", "llm"),
        "usage_path": Param("string", "llm"),
        "cumulative_text": Param("boolean", "llm", default=False),
        "stream_reasoning": Param("boolean", default=False),
        "timeout": Param("number", default=30, min=1, max=300),
        "read_timeout": READ_TIMEOUT,
        "max_duration": MAX_DURATION,
        "max_events": Param("number", default=0, min=0, max=10_000_000, integer=True),
        "stop_on": Param("string"),
        "event_filter": Param("string"),
        "max_retries": Param("number", default=3, min=0, max=20, integer=True),
        "retry_interval": Param("number", default=1000, min=0, max=60_000, integer=True),
        "max_event_kb": MAX_EVENT_KB,
        "max_stream_mb": Param("number", default=256, min=0, max=4096, integer=True),
        "ssl_verify": SSL_VERIFY,
        "fail_on_stream_error": FAIL_ON_STREAM_ERROR,
    },
    "dify_app": {
        "base_url": Param("string", required=True),
        "api_key": Param("secret-input", required=True),
        "app_type": _select("chat", "workflow", "completion"),
        "query": Param("string", "llm"),
        "inputs": Param("string", "llm"),
        "conversation_id": Param("string", "llm"),
        "user": Param("string", "llm"),
        "files": Param("string", "llm"),
        "upload_files": Param("files", "llm"),
        "file_input": Param("string"),
        "file_input_type": _select("file", "file-list"),
        "response_mode": _select("streaming", "blocking"),
        "output_mode": OUTPUT_MODE,
        "read_timeout": READ_TIMEOUT,
        "max_duration": MAX_DURATION,
        "max_event_kb": MAX_EVENT_KB,
        "fail_on_stream_error": FAIL_ON_STREAM_ERROR,
        "ssl_verify": SSL_VERIFY,
    },
}


def _shown(value: Any) -> str:
    """A value as a user may see it in an error: one short line."""
    try:
        text = str(value)
    except ValueError:  # an int past Python's digit limit
        return f"a {type(value).__name__} too long to show"
    return text[:40].replace("\n", " ").replace("\r", " ")


def as_text(value: Any, name: str) -> str:
    """A value as text ("" when absent; an object Dify already parsed, back as JSON)."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            raise InvalidParameter(name, "expected text or a JSON value") from None
    try:
        return value if isinstance(value, str) else str(value)
    except ValueError:  # an int past Python's digit limit
        raise InvalidParameter(name, f"expected text, got {_shown(value)}") from None


def as_boolean(value: Any, name: str, default: bool) -> bool:
    """True/false from a boolean, 0/1, or true/false/yes/no/on/off text."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = _shown(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise InvalidParameter(name, f"expected true or false, got '{text}'")


def check_url(raw: str, name: str = "url") -> str:
    """An absolute http(s) URL with a host httpx can encode (IDNA included); returned stripped."""
    url = raw.strip()
    if not url:
        raise InvalidParameter(name, "a URL is required, such as https://example.com/stream")
    if any(c in url for c in "\r\n\t\0 "):
        raise InvalidParameter(name, "the URL contains white space or control characters")
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in ("http", "https"):
        raise InvalidParameter(name, f"only http:// and https:// URLs are supported, got '{_shown(scheme or url[:20])}'")
    try:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port  # .host decodes IDNA: a bad A-label fails here
    except (httpx.InvalidURL, ValueError) as exc:  # idna.IDNAError is a ValueError
        detail = _shown(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise InvalidParameter(name, f"the URL is malformed ({detail})") from None
    if not host:
        raise InvalidParameter(name, "the URL has no host")
    if parse_ip(host) is None:
        try:
            check_host_name(host)
        except BlockedAddress as exc:
            raise InvalidParameter(name, str(exc)) from None
    if port is not None and not 0 < port < 65536:
        raise InvalidParameter(name, f"the URL has an invalid port {port}")
    return url


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"JSON does not parse at line {exc.lineno} column {exc.colno}: {exc.msg}"
    return f"JSON does not parse: {_shown(exc)}"


def _jsonable(value: Any, name: str) -> Any:
    """A Python literal's value as JSON would hold it (tuples become lists); anything JSON cannot
    hold (a set, bytes, a complex or non-finite number, a key that is not a string) is refused."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, name) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(v, name) for k, v in value.items()}
    what = "a key that is not a string" if isinstance(value, dict) else f"a {type(value).__name__}"
    raise InvalidParameter(name, f"expected JSON, got a Python literal with {what}")


def parse_structured(text: str, name: str) -> Any:
    """JSON text, or the Python literal Dify makes of a value an LLM produced for a string
    parameter (``str({'stream': True})``, as in Dify's tool engine), as a JSON-compatible value.

    ``ast.literal_eval`` reads exactly Python's literal syntax and nothing more, so text that is
    neither JSON nor a literal is still refused; a JSON repairer would accept any garbage.
    Nesting past the interpreter's limits and huge numbers are refused, never raised."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidParameter(name, "the JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer past Python's digit limit
        json_error = exc
    if len(text) <= MAX_LITERAL_CHARS:
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        else:
            return _jsonable(value, name)
    problem = _json_problem(json_error)
    if len(text) > MAX_LITERAL_CHARS:
        problem += f" (a Python literal is read up to {MAX_LITERAL_CHARS // 1024} KiB; longer text must be JSON)"
    raise InvalidParameter(name, problem)


def _scalar(name: str, key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)  # a parsed integer is below Python's digit limit (the parser refuses longer)
    raise InvalidParameter(name, f"the value of '{key[:40]}' must be a string or number, not {type(value).__name__}")


def _pairs_from_json(name: str, text: str) -> list[tuple[str, str]] | None:
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    value = parse_structured(stripped, name)
    if not isinstance(value, dict):
        raise InvalidParameter(name, "expected a JSON object such as {\"Key\": \"value\"}")
    pairs: list[tuple[str, str]] = []
    for key, item in value.items():
        if isinstance(item, list):  # {"tag": ["a", "b"]} repeats the key
            pairs.extend((key, _scalar(name, key, v)) for v in item)
        elif item is not None:
            pairs.append((key, _scalar(name, key, item)))
    return pairs


def _check_header(name: str, key: str, value: str) -> None:
    if not key or not set(key) <= _TCHAR:
        raise InvalidParameter(name, f"'{_shown(key)}' is not a valid header name (letters, digits and -_. only)")
    if any(c in value for c in "\r\n\0"):
        raise InvalidParameter(name, f"the value of header '{_shown(key)}' contains a line break or NUL")


def parse_headers(text: str | None, name: str = "headers") -> list[tuple[str, str]]:
    """``{"A": "1"}`` (or its Python literal) or ``A: 1`` lines, as in Dify's HTTP Request node
    (blank lines skipped; a line without ':' is refused)."""
    if not text or not text.strip():
        return []
    pairs = _pairs_from_json(name, text)
    if pairs is None:
        pairs = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            key, colon, value = line.partition(":")
            if not colon:
                raise InvalidParameter(name, f"line {number} is not 'Key: Value'")
            pairs.append((key.strip(), value.strip()))
    for key, value in pairs:
        _check_header(name, key, value)
    return pairs


def parse_query(text: str | None, name: str = "query_params") -> list[tuple[str, str]]:
    """``{"a": 1}`` (or its Python literal), ``a=1&b=2``, or ``a: 1`` / ``a=1`` lines. Repeated
    keys are kept."""
    if not text or not text.strip():
        return []
    pairs = _pairs_from_json(name, text)
    if pairs is not None:
        return pairs
    stripped = text.strip()
    if "\n" not in stripped and ":" not in stripped:
        try:
            pairs = parse_qsl(stripped.lstrip("?"), keep_blank_values=True)
        except ValueError:  # more fields than parse_qsl's max_num_fields: never here (None)
            pairs = []
        if not pairs or any(not k for k, _ in pairs):
            raise InvalidParameter(name, "expected a=1&b=2, 'key: value' lines or a JSON object")
        return pairs
    pairs = []
    for number, raw in enumerate(stripped.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        colon, equals = line.find(":"), line.find("=")
        cut = min(i for i in (colon, equals, len(line)) if i >= 0)
        key, value = line[:cut].strip(), line[cut + 1 :].strip()
        if not key:
            raise InvalidParameter(name, f"line {number} has no key")
        pairs.append((key, value))
    return pairs


def parse_body(text: str | None, name: str = "body") -> tuple[bytes | None, str | None]:
    """(content, content type). Text that starts with ``{`` or ``[`` must be JSON or a Python
    literal, and is sent as JSON (the user's JSON text as typed; a literal converted); any other
    text is sent as plain text."""
    if text is None or text == "":
        return None, None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(stripped)
        except (ValueError, RecursionError):
            value = parse_structured(stripped, name)  # a Python literal, or one clear line
            stripped = json.dumps(value, ensure_ascii=False)
        return stripped.encode("utf-8"), "application/json"
    return text.encode("utf-8"), "text/plain; charset=utf-8"


def parse_list(text: str | None, name: str = "list") -> list[str]:
    """A comma- or newline-separated list, or a JSON array (or Python list literal) of strings."""
    if not text or not text.strip():
        return []
    stripped = text.strip()
    if stripped.startswith("[") and stripped != "[DONE]":
        try:
            value = parse_structured(stripped, name)
        except InvalidParameter:
            value = None  # "[a, b" is read as plain items below
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
    return [item.strip() for item in stripped.replace("\n", ",").split(",") if item.strip()]


def check_jmespath(text: str, name: str) -> str:
    """A JMESPath expression (jmespath.org/specification.html), compiled once to check it."""
    expression = text.strip()
    if not expression:
        return ""
    if len(expression) > MAX_PATH_CHARS:
        raise InvalidParameter(name, f"a JMESPath expression of at most {MAX_PATH_CHARS} characters is expected")
    try:
        compile_path(expression, name)
    except (RecursionError, ValueError, TypeError, KeyError, IndexError):
        raise InvalidParameter(name, f"'{_shown(expression)}' is not a JMESPath expression") from None
    return expression


def _file_from_url(url: str, name: str) -> dict[str, Any]:
    check_url(url, name)
    path = url.split("?", 1)[0].split("#", 1)[0]
    extension = path.rsplit("/", 1)[-1].rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    kind = file_type(extension)
    return {"type": "document" if kind == "custom" else kind, "transfer_method": "remote_url", "url": url}


def auth_headers(auth_type: str, token: str, header: str) -> list[tuple[str, str]]:
    """The header that carries ``token`` for ``auth_type``: Bearer, Basic (``user:password`` is
    encoded; anything else is taken as already encoded, as Dify's HTTP node does), or an API key
    header. A token with ``auth_type`` none is a mistake, not something to drop silently."""
    if auth_type == "none":
        if token:
            raise InvalidParameter("auth_type", "it is 'none' but auth_token is set; choose bearer, basic "
                                                "or api_key, or clear auth_token")
        return []
    if not token:
        raise InvalidParameter("auth_token", f"auth_type '{auth_type}' needs a token")
    if any(c in token for c in "\r\n\0"):
        raise InvalidParameter("auth_token", "the token contains a line break or NUL")
    if auth_type == "bearer":
        return [("Authorization", f"Bearer {token}")]
    if auth_type == "basic":
        value = base64.b64encode(token.encode()).decode() if ":" in token else token
        return [("Authorization", f"Basic {value}")]
    parse_headers(f"{header}: x", "auth_header")  # a valid header name
    return [(header, token)]


def merge_headers(defaults: Iterable[tuple[str, str]], headers: Iterable[tuple[str, str]]
                  ) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """(the request's headers, the secrets they carry). The administrator's defaults come first,
    replaced by the request's own of the same name (compared lower-case). Every default value is
    secret (the field is a secret input), and so is every value of a credential header, with the
    token alone after a scheme ("Bearer <token>")."""
    defaults = list(defaults)
    merged: dict[str, tuple[str, str]] = {}
    secrets = [value for _, value in defaults]
    for key, value in [*defaults, *headers]:
        merged[key.lower()] = (key, value)
        if is_secret_header(key):
            secrets += [value, value.split(" ", 1)[-1]]
    return tuple(merged.values()), secrets


class ToolParams:
    """One call's ``tool_parameters`` read through its tool's table: each reader takes the
    parameter's name, applies its default and bounds, and raises ``InvalidParameter``."""

    def __init__(self, tool: str, values: Mapping[str, Any]) -> None:
        self.table = TOOLS[tool]
        self.values = values

    def text(self, name: str) -> str:
        """The value as text; the table's default (or "") when it is absent or blank."""
        text = as_text(self.values.get(name), name)
        return text if text.strip() else (self.table[name].default or "")

    def choice(self, name: str) -> str:
        spec = self.table[name]
        raw = as_text(self.values.get(name), name).strip() or spec.default
        value = raw.upper() if name == "method" else raw.lower()
        if value not in spec.options:
            raise InvalidParameter(name, f"'{_shown(raw)}' is not one of {', '.join(spec.options)}")
        return value

    def number(self, name: str) -> Any:
        spec = self.table[name]
        value = self.values.get(name)
        expected = f"expected a number from {spec.min:g} to {spec.max:g}"
        if value is None or (isinstance(value, str) and not value.strip()):
            return spec.default
        if isinstance(value, bool):
            raise InvalidParameter(name, f"{expected}, got a boolean")
        try:
            result = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidParameter(name, f"{expected}, got '{_shown(value)}'") from None
        if math.isnan(result) or not spec.min <= result <= spec.max:
            raise InvalidParameter(name, f"{expected}, got {_shown(value)}")
        if spec.integer:
            if result != int(result):
                raise InvalidParameter(name, f"expected a whole number, got {_shown(value)}")
            return int(result)
        return result

    def boolean(self, name: str) -> bool:
        return as_boolean(self.values.get(name), name, self.table[name].default)

    def url(self, name: str) -> str:
        return check_url(self.text(name), name)

    def headers(self, name: str) -> list[tuple[str, str]]:
        return parse_headers(self.text(name), name)

    def query(self, name: str) -> list[tuple[str, str]]:
        return parse_query(self.text(name), name)

    def body(self, name: str) -> tuple[bytes | None, str | None]:
        return parse_body(self.text(name), name)

    def names(self, name: str) -> tuple[str, ...]:
        return tuple(parse_list(self.text(name), name))

    def jmespath(self, name: str) -> str:
        return check_jmespath(self.text(name), name)

    def structured(self, name: str) -> Any:
        """JSON (or a Python literal) as a value; an object Dify already parsed as it is; None when empty."""
        value = self.values.get(name)
        if value is None or isinstance(value, (dict, list)):
            return value
        text = as_text(value, name).strip()
        return parse_structured(text, name) if text else None

    def json_object(self, name: str, example: str) -> dict[str, Any]:
        """A JSON object (or its Python literal); {} when empty."""
        value = self.structured(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise InvalidParameter(name, f"expected a JSON object such as {example}")
        return value

    def dify_files(self, name: str) -> list[dict[str, Any]]:
        """Dify file objects (a JSON array or one object, or their Python literal), or http(s) URLs
        one per line or comma-separated, sent as ``remote_url`` files typed by extension (image,
        audio, video, else document). Source: Dify service API, ``files`` of /chat-messages."""
        raw = self.values.get(name)
        text = raw.strip() if isinstance(raw, str) else raw
        if not text:
            return []
        if isinstance(text, str) and not text.startswith(("[", "{")):
            return [_file_from_url(u.strip(), name) for u in text.replace("\n", ",").split(",") if u.strip()]
        value = self.structured(name)
        items = [value] if isinstance(value, dict) else value
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InvalidParameter(name, "expected a JSON array of file objects such as "
                                         '[{"type": "image", "transfer_method": "remote_url", "url": "https://..."}]')
        if any("transfer_method" not in item or "type" not in item for item in items):
            raise InvalidParameter(name, "each file needs 'type' and 'transfer_method' (remote_url or local_file)")
        return items

    def uploads(self, name: str) -> tuple[DifyFile, ...]:
        """Files of Dify's ``files`` type, as ``tools/`` hands them over (``DifyFile``s, one or a
        list); () when absent. Anything else (text an agent wrote, a file URL) is refused: such
        files go in the string parameter ``files``."""
        value = self.values.get(name)
        if value is None or value == "" or value == []:
            return ()
        items = value if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(item, DifyFile) for item in items):
            raise InvalidParameter(name, "expected Dify files (bind a file variable, such as the Start node's); "
                                         "put file URLs or JSON file objects in 'files' instead")
        return tuple(items)

    def variable_name(self, name: str) -> str:
        """A Dify variable name (letters, digits, underscore; not starting with a digit), or ""."""
        text = self.text(name).strip()
        if text and not _VARIABLE_NAME.fullmatch(text):
            raise InvalidParameter(name, f"'{_shown(text)}' is not a variable name (letters, digits and _, "
                                         "as the called workflow's Start node names it)")
        return text
