"""Checks a plugin folder the way Dify checks it, before anything is packaged.

Three layers, each reported as one clear line per problem (``<file>: <what is wrong>``):

- the daemon's manifest rules (``ManifestValidate`` and the ``PluginDeclaration`` struct tags:
  lower-case author, ``x.y.z`` versions, name pattern, label lengths, the four languages,
  runner, ``created_at``, tags) and its asset check (every icon present in ``_assets/``);
- the SDK's pydantic models, fed exactly as ``PluginRegistration`` feeds them
  (``PluginConfiguration``, ``ToolProviderConfiguration``, and each tool YAML built the way
  ``ToolProviderConfiguration.validate_tools`` builds it), so a plugin that would die before its
  first heartbeat is caught here;
- the SDK's class loader rule: each ``extra.python.source`` module, imported as the SDK imports
  it, must hold exactly one ``ToolProvider`` / ``Tool`` subclass (imported names count).

The SDK checks run in a separate interpreter (this file, run as a script, with the plugin root as
working directory): importing ``dify_plugin`` gevent-patches whatever process imports it.

``check_plugin(root)`` returns the list of problems; empty means the package may be written.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
VERSION_RE = re.compile(r"^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$", re.ASCII)
AUTHOR_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
NAME_RE = re.compile(r"^[a-z0-9_-]{1,128}$")
PROVIDER_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORBIDDEN_AUTHOR_WORDS = ("langgenius", "dify")
MANIFEST_TAGS = frozenset(
    "search image videos weather finance design travel social news medical productivity education business "
    "entertainment utilities agent rag other trigger".split()
)
ARCHES = frozenset({"amd64", "arm64"})
NOT_FOR_TOOL_PLUGINS = ("models", "agent_strategies", "datasources", "triggers")
MAX_I18N = 1023
IMPORT_TIMEOUT = 120


def _load_yaml(root: Path, rel: str, problems: list[str]) -> dict[str, Any] | None:
    path = root / rel
    if not path.is_file():
        problems.append(f"{rel}: file not found")
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problems.append(f"{rel}: not valid YAML ({first})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{rel}: must be a YAML mapping, got {type(data).__name__}")
        return None
    return data


def _i18n(where: str, value: Any, problems: list[str]) -> None:
    """The daemon's I18nObject: every language required, en_US 1..1023 chars, others < 1024."""
    if not isinstance(value, dict):
        problems.append(f"{where}: must be a mapping of {', '.join(LANGUAGES)}")
        return
    for lang in LANGUAGES:
        text = value.get(lang)
        if text is None or (isinstance(text, str) and not text.strip()):
            problems.append(f"{where}.{lang}: missing (the daemon requires {', '.join(LANGUAGES)})")
        elif not isinstance(text, str):
            problems.append(f"{where}.{lang}: must be a string")
        elif len(text) > MAX_I18N:
            problems.append(f"{where}.{lang}: {len(text)} characters, at most {MAX_I18N} allowed")


def _version(where: str, value: Any, problems: list[str]) -> None:
    if not isinstance(value, str) or not VERSION_RE.match(value):
        problems.append(f"{where}: {value!r} is not a version like 1.2.3 (daemon regex {VERSION_RE.pattern})")


def _asset(where: str, root: Path, name: Any, problems: list[str], required: bool) -> None:
    if name in (None, ""):
        if required:
            problems.append(f"{where}: missing (an icon file name in _assets/)")
        return
    if not isinstance(name, str):
        problems.append(f"{where}: must be a file name in _assets/")
    elif len(name) > 128:
        problems.append(f"{where}: longer than 128 characters")
    elif not (root / "_assets" / name).is_file():
        problems.append(f"{where}: _assets/{name} not found")


def _source(where: str, root: Path, data: dict[str, Any], problems: list[str]) -> str | None:
    source = ((data.get("extra") or {}).get("python") or {}).get("source")
    if not isinstance(source, str) or not source:
        problems.append(f"{where}: extra.python.source missing")
        return None
    if not source.endswith(".py"):
        problems.append(f"{where}: extra.python.source {source!r} must be a .py file")
        return None
    if not (root / source).is_file():
        problems.append(f"{where}: extra.python.source {source} not found")
        return None
    return source


def _pydantic_lines(where: str, exc: Exception, prefix: str = "") -> list[str]:
    """One line per pydantic error; any other exception as its first line."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        lines = []
        for err in errors():
            loc = ".".join(str(part) for part in (prefix, *err.get("loc", ())) if part != "")
            lines.append(f"{where}: {loc or '(root)'}: {err.get('msg')} (SDK)")
        return lines
    text = str(exc).strip().splitlines()
    return [f"{where}: {text[0] if text else type(exc).__name__} (SDK)"]


# --- manifest.yaml -----------------------------------------------------------------------------


def check_manifest(root: Path, m: dict[str, Any]) -> list[str]:
    """Every rule the SDK and the daemon apply to manifest.yaml (dify_plugin_sdk.md §2), one line each."""
    p: list[str] = []
    for check in (_manifest_identity, _manifest_plugins, _manifest_meta, _manifest_links, _plugin_files):
        check(root, m, p)
    return p


def _manifest_identity(root: Path, m: dict[str, Any], p: list[str]) -> None:
    w = "manifest.yaml"
    _version(f"{w}: version", m.get("version"), p)
    if m.get("type") != "plugin":
        p.append(f"{w}: type must be 'plugin', got {m.get('type')!r}")

    author = m.get("author")
    if not isinstance(author, str) or not AUTHOR_RE.match(author):
        p.append(f"{w}: author {author!r} must match {AUTHOR_RE.pattern} (lower-case letters, digits, _ and -)")
    else:
        for word in FORBIDDEN_AUTHOR_WORDS:
            if word in author.lower():
                p.append(f"{w}: author {author!r} must not contain {word!r} (reserved for official plugins)")
        if UUID_RE.match(author):
            p.append(f"{w}: author {author!r} looks like a UUID, which the daemon rejects on upload")

    name = m.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        p.append(f"{w}: name {name!r} must match {NAME_RE.pattern}")

    _i18n(f"{w}: label", m.get("label"), p)
    _i18n(f"{w}: description", m.get("description"), p)
    _asset(f"{w}: icon", root, m.get("icon"), p, required=True)
    _asset(f"{w}: icon_dark", root, m.get("icon_dark"), p, required=False)


def _manifest_plugins(root: Path, m: dict[str, Any], p: list[str]) -> None:
    w = "manifest.yaml"
    resource = m.get("resource")
    memory = resource.get("memory") if isinstance(resource, dict) else None
    if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0:
        p.append(f"{w}: resource.memory must be a positive integer (bytes)")

    plugins = m.get("plugins") if isinstance(m.get("plugins"), dict) else {}
    tools = plugins.get("tools") or []
    if not isinstance(tools, list) or not tools:
        p.append(f"{w}: plugins.tools must list the tool provider YAML file")
    else:
        if len(tools) > 1:
            p.append(f"{w}: plugins.tools lists {len(tools)} providers; the daemon keeps only one per plugin")
        for path in tools:
            if not isinstance(path, str) or len(path) > 128:
                p.append(f"{w}: plugins.tools entry {path!r} must be a path of at most 128 characters")
    for kind in NOT_FOR_TOOL_PLUGINS:
        if plugins.get(kind):
            p.append(f"{w}: plugins.{kind} is not allowed in a tool plugin")


def _manifest_meta(root: Path, m: dict[str, Any], p: list[str]) -> None:
    w = "manifest.yaml"
    meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
    if not meta:
        p.append(f"{w}: meta missing")
    _version(f"{w}: meta.version", meta.get("version"), p)
    arch = meta.get("arch")
    if not isinstance(arch, list) or not arch or any(a not in ARCHES for a in arch):
        p.append(f"{w}: meta.arch must be a non-empty list of {sorted(ARCHES)}, got {arch!r}")
    runner = meta.get("runner") if isinstance(meta.get("runner"), dict) else {}
    if runner.get("language") != "python":
        p.append(f"{w}: meta.runner.language must be 'python', got {runner.get('language')!r}")
    rversion = runner.get("version")
    if not isinstance(rversion, str) or not rversion or len(rversion) > 128:
        p.append(f"{w}: meta.runner.version must be a quoted string such as \"3.12\", got {rversion!r}")
    entry = runner.get("entrypoint")
    if not isinstance(entry, str) or not entry or len(entry) > 256:
        p.append(f"{w}: meta.runner.entrypoint must be a module name such as 'main', got {entry!r}")
    else:
        module = Path(*entry.split("."))
        if not (root / module.with_suffix(".py")).is_file() and not (root / module / "__init__.py").is_file():
            p.append(f"{w}: meta.runner.entrypoint {entry!r}: {module.with_suffix('.py')} not found "
                     f"(the daemon runs python -m {entry})")
    mdv = meta.get("minimum_dify_version")
    if mdv is not None:
        from packaging.version import InvalidVersion, Version

        try:
            Version(str(mdv))
        except InvalidVersion:
            p.append(f"{w}: meta.minimum_dify_version {mdv!r} is not a version")


def _manifest_links(root: Path, m: dict[str, Any], p: list[str]) -> None:
    w = "manifest.yaml"
    created = m.get("created_at")
    if isinstance(created, dt.datetime):
        if created.tzinfo is None:
            p.append(f"{w}: created_at must be RFC 3339 with a time zone, e.g. 2026-01-31T00:00:00Z")
    elif not isinstance(created, str) or not RFC3339_RE.match(created):
        p.append(f"{w}: created_at {created!r} must be RFC 3339, e.g. 2026-01-31T00:00:00Z")

    tags = m.get("tags") or []
    if not isinstance(tags, list):
        p.append(f"{w}: tags must be a list")
    else:
        for tag in tags:
            if tag not in MANIFEST_TAGS:
                p.append(f"{w}: tag {tag!r} is not one of {', '.join(sorted(MANIFEST_TAGS))}")

    privacy = m.get("privacy")
    if privacy is not None:
        if not isinstance(privacy, str) or not privacy:
            p.append(f"{w}: privacy must be a file path or a URL")
        elif not re.match(r"^https?://", privacy) and not (root / privacy).is_file():
            p.append(f"{w}: privacy file {privacy} not found")
    repo = m.get("repo")
    if repo is not None and (not isinstance(repo, str) or not re.match(r"^https?://[^\s/]+\.[^\s]+$", repo)):
        p.append(f"{w}: repo {repo!r} must be a URL")


def _plugin_files(root: Path, m: dict[str, Any], p: list[str]) -> None:
    if not (root / "_assets").is_dir():
        p.append("_assets/: missing (the SDK scans it at start and dies without it)")
    if not (root / "requirements.txt").is_file() and not (root / "pyproject.toml").is_file():
        p.append("requirements.txt: missing (the daemon installs from requirements.txt or pyproject.toml)")
    elif (root / "requirements.txt").is_file():
        reqs = (root / "requirements.txt").read_text(encoding="utf-8")
        if not re.search(r"^\s*dify[_-]plugin\b", reqs, re.IGNORECASE | re.MULTILINE):
            p.append("requirements.txt: does not list dify_plugin (the daemon checks `import dify_plugin`)")


# --- provider and tool YAML: the daemon's rules -------------------------------------------------


def _tool_rules(root: Path, rel: str) -> tuple[list[str], str | None, str | None]:
    p: list[str] = []
    data = _load_yaml(root, rel, p)
    if data is None:
        return p, None, None
    source = _source(rel, root, data, p)
    for key in ("identity", "description"):
        if not isinstance(data.get(key), dict):
            p.append(f"{rel}: {key} missing")
    if p:
        return p, None, source
    _i18n(f"{rel}: identity.label", data["identity"].get("label"), p)
    _i18n(f"{rel}: description.human", data["description"].get("human"), p)
    params = data.get("parameters", []) or []
    if not isinstance(params, list):
        p.append(f"{rel}: parameters must be a list")
        params = []
    names = [param.get("name") for param in params if isinstance(param, dict)]
    for dup in sorted({n for n in names if names.count(n) > 1}, key=str):
        p.append(f"{rel}: parameter name {dup!r} is declared more than once")
    name = data["identity"].get("name")
    return p, name if isinstance(name, str) else None, source


def check_provider(root: Path, rel: str) -> tuple[list[str], dict[str, Any] | None, list[tuple[str, str]]]:
    """The daemon's rules for one provider and its tools. Returns the problems, the SDK job for
    this provider (None when the YAML cannot be read) and the (source, kind) pairs to import."""
    p: list[str] = []
    sources: list[tuple[str, str]] = []
    data = _load_yaml(root, rel, p)
    if data is None:
        return p, None, sources
    identity = data.get("identity") if isinstance(data.get("identity"), dict) else {}
    if not identity:
        p.append(f"{rel}: identity missing")
    pname = identity.get("name")
    if not isinstance(pname, str) or not PROVIDER_NAME_RE.match(pname):
        p.append(f"{rel}: identity.name {pname!r} must match {PROVIDER_NAME_RE.pattern}")
    _i18n(f"{rel}: identity.label", identity.get("label"), p)
    _i18n(f"{rel}: identity.description", identity.get("description"), p)
    _asset(f"{rel}: identity.icon", root, identity.get("icon"), p, required=True)
    _asset(f"{rel}: identity.icon_dark", root, identity.get("icon_dark"), p, required=False)
    source = _source(rel, root, data, p)
    if source:
        sources.append((source, "provider"))
    creds = data.get("credentials_for_provider")
    creds_ok = creds is None or isinstance(creds, dict)
    if not creds_ok:
        p.append(f"{rel}: credentials_for_provider must be a mapping of name to field (the SDK calls .items())")

    tools = data.get("tools") or []
    if not isinstance(tools, list) or not tools:
        p.append(f"{rel}: tools must list at least one tool YAML file")
        tools = []
    tool_problems: list[str] = []
    good_tools: list[str] = []
    names: list[str] = []
    for tool in tools:
        if not isinstance(tool, str):
            p.append(f"{rel}: tools entry {tool!r} must be a path")
            continue
        problems, name, tool_source = _tool_rules(root, tool)
        tool_problems.extend(problems)
        if not problems:
            good_tools.append(tool)
        if name:
            names.append(name)
        if tool_source:
            sources.append((tool_source, "tool"))
    for dup in sorted({n for n in names if names.count(n) > 1}):
        p.append(f"{rel}: tool name {dup!r} is declared by more than one tool YAML")
    job = {"path": rel, "tools": good_tools, "all_tools_ok": not tool_problems} if creds_ok else None
    return p + tool_problems, job, sources


# --- the SDK's own checks, in a separate interpreter ---------------------------------------------
# Importing dify_plugin gevent-patches the interpreter, so it never happens in the caller: this
# file is run as a script, with the plugin root as working directory, exactly as the SDK runs.


def _sdk_tool(rel: str) -> list[str]:
    """One tool YAML, built exactly as ToolProviderConfiguration.validate_tools builds it."""
    from dify_plugin.entities.tool import (
        ToolConfiguration,
        ToolConfigurationExtra,
        ToolDescription,
        ToolIdentity,
        ToolParameter,
    )

    data = yaml.safe_load(Path(rel).read_text(encoding="utf-8"))
    p: list[str] = []
    parts: list[tuple[str, Any]] = [
        ("identity", lambda: ToolIdentity(**data["identity"])),
        ("description", lambda: ToolDescription(**data["description"])),
        ("extra", lambda: ToolConfigurationExtra(**data.get("extra", {}))),
    ]
    for i, param in enumerate(data.get("parameters", []) or []):
        if not isinstance(param, dict):
            p.append(f"{rel}: parameters[{i}]: must be a mapping")
            continue
        parts.append((f"parameters[{i}] ({param.get('name')})", lambda param=param: ToolParameter(**param)))
    built: dict[str, Any] = {}
    for label, make in parts:
        try:
            built[label] = make()
        except Exception as exc:
            p.extend(_pydantic_lines(rel, exc, prefix=label))
    if not p:
        try:
            ToolConfiguration(identity=built["identity"], description=built["description"], extra=built["extra"],
                              parameters=[v for k, v in built.items() if k.startswith("parameters[")],
                              output_schema=data.get("output_schema"))
        except Exception as exc:
            p.extend(_pydantic_lines(rel, exc))
    return p


def _sdk_main(job: dict[str, Any]) -> list[str]:
    from dify_plugin.core.entities.plugin.setup import PluginConfiguration
    from dify_plugin.core.utils.class_loader import get_subclasses_from_module, import_module_from_source
    from dify_plugin.entities.tool import ToolProviderConfiguration
    from dify_plugin.interfaces.tool import Tool, ToolProvider

    p: list[str] = []
    if job["manifest"]:
        try:
            PluginConfiguration(**yaml.safe_load(Path("manifest.yaml").read_text(encoding="utf-8")))
        except Exception as exc:  # pydantic.ValidationError or TypeError
            p.extend(_pydantic_lines("manifest.yaml", exc))
    for provider in job["providers"]:
        tool_lines = [line for rel in provider["tools"] for line in _sdk_tool(rel)]
        p.extend(tool_lines)
        data = yaml.safe_load(Path(provider["path"]).read_text(encoding="utf-8"))
        if tool_lines or not provider["all_tools_ok"]:  # already reported per tool: the provider's own fields
            data["tools"] = []
        try:
            ToolProviderConfiguration(**data)
        except Exception as exc:
            p.extend(_pydantic_lines(provider["path"], exc))
    for source, kind in job["sources"]:
        parent = ToolProvider if kind == "provider" else Tool
        module_name = Path(source).with_suffix("").as_posix().replace("/", ".")
        try:
            module = import_module_from_source(module_name=module_name, py_file_path=str(Path.cwd() / source))
        except BaseException as exc:
            lines = str(exc).strip().splitlines()
            p.append(f"{source}: import failed: {type(exc).__name__}" + (f": {lines[0]}" if lines else ""))
            continue
        found = [f"{c.__module__}.{c.__qualname__}" for c in get_subclasses_from_module(module, parent)]
        if not found:
            p.append(f"{source}: no subclass of {parent.__name__} (the SDK needs exactly one)")
        elif len(found) > 1:
            p.append(f"{source}: {len(found)} subclasses of {parent.__name__} ({', '.join(found)}); the SDK "
                     f"needs exactly one per module, and imported names count")
    return p


def check_sdk(root: Path, job: dict[str, Any], python: str = sys.executable) -> list[str]:
    """Runs ``_sdk_main`` in ``python`` (which must have dify_plugin) with cwd = plugin root."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "sdk.json"
        try:
            proc = subprocess.run([python, str(Path(__file__).resolve()), "--sdk-job", json.dumps(job), str(result)],
                                  cwd=root, capture_output=True, timeout=IMPORT_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return [f"the SDK checks (importing {', '.join(s for s, _ in job['sources'])}) took more than "
                    f"{IMPORT_TIMEOUT} s"]
        if not result.is_file():
            tail = proc.stderr.decode(errors="replace").strip().splitlines()
            return [f"could not run the SDK checks with {python}: {tail[-1] if tail else proc.returncode}"]
        return json.loads(result.read_text(encoding="utf-8"))


# --- all of it ----------------------------------------------------------------------------------


def check_plugin(root: Path, *, sdk: bool = True, python: str = sys.executable) -> list[str]:
    """Every problem, one line each. ``sdk=False`` skips the SDK's models and class loading
    (the daemon's rules only; no subprocess)."""
    root = Path(root).resolve()
    problems: list[str] = []
    manifest = _load_yaml(root, "manifest.yaml", problems)
    if manifest is None:
        return problems
    problems.extend(check_manifest(root, manifest))
    job: dict[str, Any] = {"manifest": not problems, "providers": [], "sources": []}
    plugins = manifest.get("plugins") if isinstance(manifest.get("plugins"), dict) else {}
    for rel in plugins.get("tools") or []:
        if isinstance(rel, str):
            provider_problems, provider_job, sources = check_provider(root, rel)
            problems.extend(provider_problems)
            if provider_job is not None:
                job["providers"].append(provider_job)
            job["sources"].extend(sources)
    if sdk:
        problems.extend(check_sdk(root, job, python))
    return problems


def referenced_files(root: Path) -> list[str]:
    """Every file the manifest points at, directly or through a provider: these must be packaged."""
    root = Path(root).resolve()
    found: list[str] = ["manifest.yaml"]
    ignore: list[str] = []
    manifest = _load_yaml(root, "manifest.yaml", ignore) or {}
    for key in ("icon", "icon_dark"):
        if isinstance(manifest.get(key), str):
            found.append(f"_assets/{manifest[key]}")
    entry = ((manifest.get("meta") or {}).get("runner") or {}).get("entrypoint")
    if isinstance(entry, str) and entry:
        module = Path(*entry.split("."))
        found.append((module / "__init__.py" if (root / module).is_dir() else module.with_suffix(".py")).as_posix())
    privacy = manifest.get("privacy")
    if isinstance(privacy, str) and not re.match(r"^https?://", privacy):
        found.append(privacy)
    for dep in ("requirements.txt", "pyproject.toml", "uv.lock"):
        if (root / dep).is_file():
            found.append(dep)
    for rel in (manifest.get("plugins") or {}).get("tools") or []:
        found.append(rel)
        provider = _load_yaml(root, rel, ignore) or {}
        identity = provider.get("identity") or {}
        for key in ("icon", "icon_dark"):
            if isinstance(identity.get(key), str):
                found.append(f"_assets/{identity[key]}")
        src = ((provider.get("extra") or {}).get("python") or {}).get("source")
        if isinstance(src, str):
            found.append(src)
        for tool in provider.get("tools") or []:
            found.append(tool)
            tool_data = _load_yaml(root, tool, ignore) or {}
            src = ((tool_data.get("extra") or {}).get("python") or {}).get("source")
            if isinstance(src, str):
                found.append(src)
    return sorted(set(found))



if __name__ == "__main__" and sys.argv[1:2] == ["--sdk-job"]:
    # The child side of check_sdk: import plugin modules from the working directory, as
    # ``python -m main`` would, not from this file's folder.
    sys.path[0] = ""
    Path(sys.argv[3]).write_text(json.dumps(_sdk_main(json.loads(sys.argv[2]))), encoding="utf-8")
