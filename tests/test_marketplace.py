"""The Dify Marketplace reviewer checklist (dify_plugin_sdk.md section 8), every item a machine can
check, plus what the built package must contain and leave out.

Not checkable here: the PR title and body language (2), whether the version is already published
on the marketplace (6), and the daemon's own install and packaging tests (11, 12), which
tests/test_install.py reproduces (it installs from requirements.txt, item 9, so it needs PyPI).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from devkit.manifest_check import check_plugin
from devkit.package import build

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
                 r"\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
TEMPLATE_ICON_MARKERS = ("15255_46460", "feTurbulence")  # the `dify plugin init` template icon
DRAWING = {"path", "circle", "rect", "ellipse", "line", "polyline", "polygon", "text", "image"}
README_LANGS = {"zh_Hans", "ja_JP", "pt_BR"}
RUNTIME_TOP_LEVEL = {"PRIVACY.md", "README.md", "_assets", "main.py", "manifest.yaml", "provider", "readme",
                     "requirements.txt", "tools", "utils"}


def load(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def manifest() -> dict:
    return load("manifest.yaml")


def providers() -> list[dict]:
    return [load(rel) for rel in manifest()["plugins"]["tools"]]


def tools() -> list[dict]:
    return [load(rel) for p in providers() for rel in p["tools"]]


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("dist")
    pkg = build(ROOT, out)
    with zipfile.ZipFile(pkg.path) as zf:
        return pkg.path, zf.namelist()


# 1, 12. exactly one .difypkg, built by the packaging command, with the daemon's checks passing
def test_packaging_writes_exactly_one_difypkg(package) -> None:
    path, names = package
    assert [p.name for p in path.parent.iterdir()] == [f"{manifest()['name']}-{manifest()['version']}.difypkg"]
    assert names == sorted(names)


def test_the_daemons_checks_pass() -> None:
    assert check_plugin(ROOT) == []


# 3. manifest.yaml, README.md, PRIVACY.md and _assets/ all present, in the repo and in the package
@pytest.mark.parametrize("required", ["manifest.yaml", "README.md", "PRIVACY.md", "_assets/"])
def test_required_files_are_present_and_packaged(package, required: str) -> None:
    _, names = package
    assert (ROOT / required).exists()
    assert any(n == required or n.startswith(required) for n in names), f"{required} is not in the package"


# 4. author must not contain langgenius or dify (manifest, provider and tools)
def test_author_is_not_reserved() -> None:
    authors = [manifest()["author"], *(p["identity"]["author"] for p in providers()),
               *(t["identity"]["author"] for t in tools())]
    for author in authors:
        assert "langgenius" not in author.lower() and "dify" not in author.lower(), author
    assert len(set(authors)) == 1, f"one author everywhere, got {authors}"


# 5. a real icon, not the template one, light and dark
def icon_files() -> list[str]:
    names = {manifest()["icon"], manifest().get("icon_dark")}
    for p in providers():
        names |= {p["identity"]["icon"], p["identity"].get("icon_dark")}
    return sorted(n for n in names if n)


@pytest.mark.parametrize("icon", icon_files())
def test_icons_are_real_drawings(icon: str) -> None:
    path = ROOT / "_assets" / icon
    text = path.read_text(encoding="utf-8")
    assert not any(marker in text for marker in TEMPLATE_ICON_MARKERS), f"{icon} is the plugin template's icon"
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    shapes = [el for el in root.iter() if el.tag.rsplit("}", 1)[-1] in DRAWING]
    assert len(shapes) >= 3, f"{icon} draws almost nothing"
    assert root.get("viewBox"), f"{icon} has no viewBox, so it cannot scale"


def test_light_and_dark_icons_differ() -> None:
    m = manifest()
    assert m.get("icon_dark") and m["icon_dark"] != m["icon"]
    assert (ROOT / "_assets" / m["icon"]).read_bytes() != (ROOT / "_assets" / m["icon_dark"]).read_bytes()


# 7. README.md in English only; Chinese under readme/README_zh_Hans.md
def test_readme_is_english_only() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.strip()
    hits = [(n, line) for n, line in enumerate(text.splitlines(), 1) if CJK.search(line)]
    assert not hits, f"README.md must be English only; CJK characters on lines {[n for n, _ in hits]}"


def test_translated_readmes_follow_the_daemons_naming() -> None:
    files = sorted(p.name for p in (ROOT / "readme").iterdir())
    assert "README_zh_Hans.md" in files
    for name in files:
        match = re.fullmatch(r"README_(\w+)\.md", name)
        assert match and match.group(1) in README_LANGS, f"readme/{name}: expected README_<{'|'.join(README_LANGS)}>.md"


def test_chinese_readme_is_chinese_and_names_every_parameter() -> None:
    text = (ROOT / "readme" / "README_zh_Hans.md").read_text(encoding="utf-8")
    assert len(CJK.findall(text)) > 200
    for tool in tools():
        assert f"`{tool['identity']['name']}`" in text, f"README_zh_Hans.md does not describe {tool['identity']['name']}"
        for param in tool.get("parameters") or []:
            assert f"`{param['name']}`" in text, (
                f"README_zh_Hans.md does not mention {tool['identity']['name']}.{param['name']}")
    for provider in providers():
        for name in provider.get("credentials_for_provider") or {}:
            assert f"`{name}`" in text, f"README_zh_Hans.md does not mention the provider setting {name}"


# 8. PRIVACY.md non-empty and not the template; says what is sent where and that nothing is stored
def test_privacy_policy_is_real() -> None:
    assert manifest()["privacy"] == "PRIVACY.md"
    text = (ROOT / "PRIVACY.md").read_text(encoding="utf-8")
    assert len(text) > 1000
    lowered = text.lower()
    assert "replace this template" not in lowered and "describe what data" not in lowered
    for needed in ("only", "url", "nothing", "telemetry", "masked"):
        assert needed in lowered, f"PRIVACY.md does not mention {needed!r}"
    assert not CJK.search(text)


# 9, 10. requirements.txt parses, pins dify_plugin>=0.5.0, and the pinned range holds a real release
def requirements() -> dict[str, Requirement]:
    reqs = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            reqs[re.sub(r"[-_.]+", "-", req.name).lower()] = req
    return reqs


def test_requirements_satisfy_dify_plugin_at_least_0_5_0() -> None:
    req = requirements()["dify-plugin"]
    lower = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=", ">")]
    assert lower and max(lower) >= Version("0.5.0"), f"{req}: the marketplace needs dify_plugin>=0.5.0"
    assert not req.specifier.contains("0.4.99", prereleases=True)
    assert req.specifier.contains(installed_version("dify_plugin")), (
        f"{req} excludes the SDK these tests run with ({installed_version('dify_plugin')})")


def test_every_requirement_is_pinned_to_a_range_the_dev_venv_satisfies() -> None:
    for name, req in requirements().items():
        assert req.specifier, f"{name} has no version range"
        assert req.specifier.contains(installed_version(name)), f"{req} excludes the installed {installed_version(name)}"


# What the package holds: everything the runtime needs, nothing else
def test_package_contains_the_runtime(package) -> None:
    _, names = package
    assert {n.split("/", 1)[0] for n in names} == RUNTIME_TOP_LEVEL
    for folder in ("provider", "tools", "utils"):
        on_disk = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py")
                         if "__pycache__" not in p.parts)
        missing = [rel for rel in on_disk if rel not in names]
        assert not missing, f"not packaged: {missing}"
    for rel in ("readme/README_zh_Hans.md", "requirements.txt", "main.py"):
        assert rel in names


@pytest.mark.parametrize("excluded", ["tests/", "devkit/", "working/", ".ci/", ".venv/", ".git/", "dist/",
                                      "__pycache__/", ".pytest_cache/", ".ruff_cache/"])
def test_package_leaves_out_dev_folders(package, excluded: str) -> None:
    _, names = package
    assert not [n for n in names if n.startswith(excluded) or f"/{excluded}" in n]


@pytest.mark.parametrize("excluded", ["Makefile", "requirements-dev.txt", "ruff.toml", "pytest.ini", ".env",
                                      ".env.example", ".gitignore", ".python-version", "pyproject.toml", "uv.lock"])
def test_package_leaves_out_dev_files(package, excluded: str) -> None:
    _, names = package
    assert excluded not in names


def test_package_has_no_compiled_or_secret_files(package) -> None:
    _, names = package
    assert not [n for n in names if n.endswith((".pyc", ".pyo", ".difypkg", ".pem", ".key"))]


def test_remote_debugging_example_is_complete() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    values = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert values["INSTALL_METHOD"] == "remote"
    assert "REMOTE_INSTALL_URL" in values and "REMOTE_INSTALL_KEY" in values
    assert values["REMOTE_INSTALL_KEY"] == "", "never ship a real debugging key"
    for key in ("INSTALL_METHOD", "REMOTE_INSTALL_URL", "REMOTE_INSTALL_KEY"):
        before = text.split(f"\n{key}=", 1)[0] if not text.startswith(f"{key}=") else ""
        assert before.rstrip().splitlines()[-1].startswith("#"), f"{key} has no comment above it"
