"""Writes each tool YAML's parameter fields from the table in ``utils/parameters.py``.

The table is the one source of every parameter's type, form, required flag, default, bounds and
option values; the YAML keeps what only it holds (labels and descriptions in four languages,
option labels). This rewrites ``tools/<tool>.yaml`` in the table's order with the table's values,
and leaves out what Dify never reads there (``required: false``, the ``llm_description`` of a
parameter the LLM does not fill): the SDK parses these files with the pure-Python loader at
start-up, so a shorter file starts faster.

    python -m devkit.tool_yaml           # rewrite tools/*.yaml
    python -m devkit.tool_yaml --check   # exit 1 and say what differs (tests/test_parameters.py)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from utils.parameters import TOOLS, Param

ROOT = Path(__file__).resolve().parent.parent
KEY_ORDER = ("name", "type", "required", "label", "human_description", "llm_description", "form", "default",
             "min", "max", "options")


class TableMismatch(Exception):
    """The YAML cannot be written from the table without texts only a person can write."""


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _entry(name: str, spec: Param, old: dict[str, Any] | None, where: str) -> dict[str, Any]:
    if old is None or "label" not in old or "human_description" not in old:
        raise TableMismatch(f"{where}: parameter '{name}' is in the table but has no label and description here")
    fields: dict[str, Any] = {**old, "name": name, "type": spec.type, "form": spec.form}
    for key in ("required", "default", "min", "max", "llm_description"):
        fields.pop(key, None)
    if spec.required:
        fields["required"] = True
    if spec.form == "llm":
        if not old.get("llm_description"):
            raise TableMismatch(f"{where}: parameter '{name}' is filled by the LLM but has no llm_description")
        fields["llm_description"] = old["llm_description"]
    if spec.default is not None:
        fields["default"] = _number(spec.default) if spec.type == "number" else spec.default
    if spec.min is not None:
        fields["min"] = _number(spec.min)
    if spec.max is not None:
        fields["max"] = _number(spec.max)
    if spec.options:
        labels = {o.get("value"): o for o in old.get("options") or []}
        missing = [v for v in spec.options if v not in labels]
        if missing:
            raise TableMismatch(f"{where}: option(s) {', '.join(missing)} of '{name}' have no label here")
        fields["options"] = [labels[v] for v in spec.options]
    else:
        fields.pop("options", None)
    return {key: fields[key] for key in (*KEY_ORDER, *fields) if key in fields}


def render(tool: str, root: Path = ROOT) -> str:
    """The text ``tools/<tool>.yaml`` should have: its texts, the table's values."""
    path = root / "tools" / f"{tool}.yaml"
    where = path.relative_to(root).as_posix()
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    old = {p["name"]: p for p in doc.get("parameters") or []}
    extra = [name for name in old if name not in TOOLS[tool]]
    if extra:
        raise TableMismatch(f"{where}: parameter(s) {', '.join(extra)} are not in utils/parameters.py's table")
    doc["parameters"] = [_entry(name, spec, old.get(name), where) for name, spec in TOOLS[tool].items()]
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


def differences(root: Path = ROOT) -> list[str]:
    """One line per tool YAML that is not what the table makes of it."""
    found = []
    for tool in TOOLS:
        path = root / "tools" / f"{tool}.yaml"
        try:
            if render(tool, root) != path.read_text(encoding="utf-8"):
                found.append(f"{path.relative_to(root).as_posix()}: differs from utils/parameters.py's table "
                             "(run python -m devkit.tool_yaml)")
        except TableMismatch as exc:
            found.append(str(exc))
    return found


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = differences()
        print("\n".join(found) or "tools/*.yaml agree with the table")
        return 1 if found else 0
    for tool in TOOLS:
        (ROOT / "tools" / f"{tool}.yaml").write_text(render(tool), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
