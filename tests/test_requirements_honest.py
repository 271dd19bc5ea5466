"""requirements.txt lists exactly the packages the plugin's own code imports (issue 15: the SDK
brings its own pydantic; a package nobody imports is not a requirement, and a package imported
but not listed would fail on a fresh install)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ["main.py", "utils", "tools", "provider"]
LOCAL = {"utils", "tools", "provider"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_distributions() -> dict[str, set[str]]:
    """Distribution name -> the runtime files that import one of its modules."""
    files = [p for rel in RUNTIME for p in ([ROOT / rel] if rel.endswith(".py") else (ROOT / rel).rglob("*.py"))]
    owners = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".", 1)[0]
                if top in LOCAL or top in sys.stdlib_module_names or top == "__future__":
                    continue
                for dist in owners.get(top, [top]):
                    found.setdefault(normalized(dist), set()).add(path.relative_to(ROOT).as_posix())
    return found


def listed() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return {normalized(Requirement(line.split("#", 1)[0]).name) for line in lines if line.split("#", 1)[0].strip()}


def test_every_imported_package_is_a_requirement() -> None:
    missing = {dist: sorted(files) for dist, files in imported_distributions().items() if dist not in listed()}
    assert not missing, f"imported but not in requirements.txt: {missing}"


def test_every_requirement_is_imported_by_the_plugin() -> None:
    unused = listed() - set(imported_distributions())
    assert not unused, f"in requirements.txt but imported by no runtime code: {sorted(unused)}"
