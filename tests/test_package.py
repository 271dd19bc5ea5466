"""The packager's validator and writer, on small plugins built in temp folders.

Each broken plugin has exactly one thing wrong, and must produce exactly one clear line that
names the file and the problem.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from devkit.manifest_check import check_plugin
from devkit.package import PackageError, build, collect_files, main

I18N = {"en_US": "Demo", "zh_Hans": "演示", "ja_JP": "デモ", "pt_BR": "Demonstração"}

PROVIDER_PY = """\
from dify_plugin import ToolProvider


class DemoProvider(ToolProvider):
    def _validate_credentials(self, credentials):
        pass
"""

TOOL_PY = """\
from dify_plugin import Tool


class DemoTool(Tool):
    def _invoke(self, tool_parameters):
        yield self.create_text_message("ok")
"""


def manifest() -> dict[str, Any]:
    return {
        "version": "0.1.0", "type": "plugin", "author": "someone", "name": "demo",
        "label": dict(I18N), "description": dict(I18N), "icon": "icon.svg", "icon_dark": "icon-dark.svg",
        "resource": {"memory": 268435456, "permission": {}},
        "plugins": {"tools": ["provider/demo.yaml"]},
        "meta": {"version": "0.0.1", "arch": ["amd64", "arm64"],
                 "runner": {"language": "python", "version": "3.12", "entrypoint": "main"}},
        "created_at": "2026-01-01T00:00:00Z", "privacy": "PRIVACY.md", "tags": ["utilities"],
    }


def provider() -> dict[str, Any]:
    return {
        "identity": {"author": "someone", "name": "demo", "label": dict(I18N), "description": dict(I18N),
                     "icon": "provider.svg", "tags": ["utilities"]},
        "credentials_for_provider": {"token": {"type": "secret-input", "required": False, "label": dict(I18N)}},
        "tools": ["tools/demo.yaml"],
        "extra": {"python": {"source": "provider/demo.py"}},
    }


def tool() -> dict[str, Any]:
    return {
        "identity": {"name": "demo", "author": "someone", "label": dict(I18N)},
        "description": {"human": dict(I18N), "llm": "A demo tool."},
        "parameters": [{"name": "url", "type": "string", "required": True, "label": dict(I18N),
                        "human_description": dict(I18N), "llm_description": "The URL.", "form": "llm"}],
        "extra": {"python": {"source": "tools/demo.py"}},
    }


def write_plugin(root: Path, m: dict | None = None, p: dict | None = None, t: dict | None = None) -> Path:
    files = {
        "manifest.yaml": yaml.safe_dump(m if m is not None else manifest(), allow_unicode=True),
        "provider/demo.yaml": yaml.safe_dump(p if p is not None else provider(), allow_unicode=True),
        "tools/demo.yaml": yaml.safe_dump(t if t is not None else tool(), allow_unicode=True),
        "provider/__init__.py": "", "tools/__init__.py": "",
        "provider/demo.py": PROVIDER_PY, "tools/demo.py": TOOL_PY,
        "main.py": "from dify_plugin import DifyPluginEnv, Plugin\n\nplugin = Plugin(DifyPluginEnv())\n",
        "requirements.txt": "dify_plugin>=0.5.0\n",
        "PRIVACY.md": "Nothing is stored.\n", "README.md": "# Demo\n",
        "_assets/icon.svg": "<svg/>", "_assets/icon-dark.svg": "<svg/>", "_assets/provider.svg": "<svg/>",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_correct_plugin_has_no_problems(tmp_path: Path) -> None:
    assert check_plugin(write_plugin(tmp_path)) == []


def test_the_sdk_checks_do_not_repeat_the_daemon_rules(tmp_path: Path) -> None:
    m = manifest()
    del m["label"]["ja_JP"]
    p = provider()
    p["identity"]["icon"] = "gone.svg"
    assert check_plugin(write_plugin(tmp_path, m=m, p=p)) == [
        "manifest.yaml: label.ja_JP: missing (the daemon requires en_US, zh_Hans, ja_JP, pt_BR)",
        "provider/demo.yaml: identity.icon: _assets/gone.svg not found",
    ]


def test_the_caller_is_not_gevent_patched(tmp_path: Path) -> None:
    import socket

    before = socket.socket
    check_plugin(write_plugin(tmp_path))
    assert socket.socket is before


def one_problem(root: Path, sdk: bool = False) -> str:
    problems = check_plugin(root, sdk=sdk)
    assert len(problems) == 1, problems
    assert "\n" not in problems[0]
    return problems[0]


def with_manifest(**changes: Any) -> dict[str, Any]:
    m = manifest()
    for dotted, value in changes.items():
        node = m
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return m


@pytest.mark.parametrize(("changes", "expected"), [
    ({"author": "SomeOne"}, "manifest.yaml: author 'SomeOne' must match ^[a-z0-9_-]{1,64}$"),
    ({"author": "my-dify-tools"}, "manifest.yaml: author 'my-dify-tools' must not contain 'dify'"),
    ({"author": "langgenius"}, "manifest.yaml: author 'langgenius' must not contain 'langgenius'"),
    ({"author": "123e4567-e89b-12d3-a456-426614174000"}, "looks like a UUID"),
    ({"name": "Demo Plugin"}, "manifest.yaml: name 'Demo Plugin' must match ^[a-z0-9_-]{1,128}$"),
    ({"version": "1.0"}, "manifest.yaml: version: '1.0' is not a version like 1.2.3"),
    ({"version": "v1.0.0"}, "manifest.yaml: version: 'v1.0.0' is not a version like 1.2.3"),
    ({"meta__version": "0.0.1.2"}, "manifest.yaml: meta.version: '0.0.1.2' is not a version like 1.2.3"),
    ({"type": "tool"}, "manifest.yaml: type must be 'plugin', got 'tool'"),
    ({"label__ja_JP": KeyError}, "manifest.yaml: label.ja_JP: missing"),
    ({"description__pt_BR": ""}, "manifest.yaml: description.pt_BR: missing"),
    ({"label__en_US": "x" * 1024}, "manifest.yaml: label.en_US: 1024 characters, at most 1023 allowed"),
    ({"icon": "missing.svg"}, "manifest.yaml: icon: _assets/missing.svg not found"),
    ({"icon_dark": "dark.png"}, "manifest.yaml: icon_dark: _assets/dark.png not found"),
    ({"meta__runner__language": "go"}, "manifest.yaml: meta.runner.language must be 'python', got 'go'"),
    ({"meta__runner__version": 3.12}, "manifest.yaml: meta.runner.version must be a quoted string"),
    ({"meta__runner__entrypoint": "app"}, "manifest.yaml: meta.runner.entrypoint 'app': app.py not found"),
    ({"meta__arch": ["x86"]}, "manifest.yaml: meta.arch must be a non-empty list"),
    ({"created_at": "yesterday"}, "manifest.yaml: created_at 'yesterday' must be RFC 3339"),
    ({"tags": ["utilities", "ai"]}, "manifest.yaml: tag 'ai' is not one of"),
    ({"resource__memory": "lots"}, "manifest.yaml: resource.memory must be a positive integer"),
    ({"privacy": "POLICY.md"}, "manifest.yaml: privacy file POLICY.md not found"),
    ({"plugins__models": ["provider/model.yaml"]}, "manifest.yaml: plugins.models is not allowed in a tool plugin"),
])
def test_manifest_problems_are_one_clear_line_each(tmp_path: Path, changes: dict, expected: str) -> None:
    assert expected in one_problem(write_plugin(tmp_path, m=with_manifest(**changes)))


def test_a_missing_provider_icon(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / "_assets/provider.svg").unlink()
    assert one_problem(root) == "provider/demo.yaml: identity.icon: _assets/provider.svg not found"


def test_a_provider_label_without_a_language(tmp_path: Path) -> None:
    p = provider()
    del p["identity"]["label"]["zh_Hans"]
    assert one_problem(write_plugin(tmp_path, p=p)).startswith("provider/demo.yaml: identity.label.zh_Hans: missing")


def test_credentials_as_a_list_are_refused(tmp_path: Path) -> None:
    p = provider()
    p["credentials_for_provider"] = [{"name": "token", "type": "secret-input", "label": dict(I18N)}]
    assert "credentials_for_provider must be a mapping" in one_problem(write_plugin(tmp_path, p=p))


def test_an_unknown_credential_type_is_an_sdk_error(tmp_path: Path) -> None:
    p = provider()
    p["credentials_for_provider"]["token"]["type"] = "password"
    line = one_problem(write_plugin(tmp_path, p=p), sdk=True)
    assert line.startswith("provider/demo.yaml: credentials_for_provider.0.type: Input should be")
    assert line.endswith("(SDK)")


def test_a_missing_tool_yaml(tmp_path: Path) -> None:
    p = provider()
    p["tools"] = ["tools/other.yaml"]
    assert one_problem(write_plugin(tmp_path, p=p)) == "tools/other.yaml: file not found"


def test_a_missing_tool_source(tmp_path: Path) -> None:
    t = tool()
    t["extra"]["python"]["source"] = "tools/gone.py"
    assert one_problem(write_plugin(tmp_path, t=t)) == "tools/demo.yaml: extra.python.source tools/gone.py not found"


def test_a_missing_provider_source(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / "provider/demo.py").unlink()
    assert one_problem(root) == "provider/demo.yaml: extra.python.source provider/demo.py not found"


def test_a_bad_parameter_type_names_the_parameter(tmp_path: Path) -> None:
    t = tool()
    t["parameters"][0]["type"] = "text"
    line = one_problem(write_plugin(tmp_path, t=t), sdk=True)
    assert line.startswith("tools/demo.yaml: parameters[0] (url).type: Input should be 'string'")


def test_a_parameter_without_human_description(tmp_path: Path) -> None:
    t = tool()
    del t["parameters"][0]["human_description"]
    line = one_problem(write_plugin(tmp_path, t=t), sdk=True)
    assert line == "tools/demo.yaml: parameters[0] (url).human_description: Field required (SDK)"


def test_a_tool_yaml_that_is_not_yaml(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / "tools/demo.yaml").write_text("identity: [unclosed\n", encoding="utf-8")
    assert one_problem(root).startswith("tools/demo.yaml: not valid YAML (")


def test_requirements_without_the_sdk(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / "requirements.txt").write_text("httpx\n", encoding="utf-8")
    assert one_problem(root).startswith("requirements.txt: does not list dify_plugin")


def test_two_tool_classes_in_one_module(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / "tools/demo.py").write_text(TOOL_PY + "\n\nclass Other(DemoTool):\n    pass\n", encoding="utf-8")
    line = one_problem(root, sdk=True)
    assert line.startswith("tools/demo.py: 2 subclasses of Tool (tools.demo.DemoTool, tools.demo.Other)")


def test_an_imported_tool_class_counts_too(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / "tools/base.py").write_text(TOOL_PY.replace("DemoTool", "BaseTool"), encoding="utf-8")
    (root / "tools/demo.py").write_text("from tools.base import BaseTool\n\n\nclass DemoTool(BaseTool):\n    pass\n",
                                        encoding="utf-8")
    line = one_problem(root, sdk=True)
    assert line.startswith("tools/demo.py: 2 subclasses of Tool") and "imported names count" in line


def test_a_module_without_a_provider_class(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / "provider/demo.py").write_text("X = 1\n", encoding="utf-8")
    assert one_problem(root, sdk=True) == (
        "provider/demo.py: no subclass of ToolProvider (the SDK needs exactly one)")


def test_a_module_that_fails_to_import(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / "tools/demo.py").write_text("import no_such_module_here\n", encoding="utf-8")
    assert one_problem(root, sdk=True) == (
        "tools/demo.py: import failed: ModuleNotFoundError: No module named 'no_such_module_here'")


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    root = write_plugin(tmp_path, m=with_manifest(author="Me", version="1"))
    (root / "_assets/provider.svg").unlink()
    problems = check_plugin(root, sdk=False)
    assert len(problems) == 3, problems


# --- the package itself ------------------------------------------------------------------------


def test_build_writes_a_sorted_zip_and_honours_difyignore(tmp_path: Path) -> None:
    root = write_plugin(tmp_path / "plugin")
    (root / ".difyignore").write_text("tests/\n*.log\n__pycache__/\nnotes/*\n!notes/keep.md\n", encoding="utf-8")
    for rel in ("tests/test_x.py", "debug.log", "tools/__pycache__/demo.cpython-312.pyc", "notes/drop.md",
                "notes/keep.md", "utils/deep/x.log"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x", encoding="utf-8")
    pkg = build(root, tmp_path / "out")
    assert pkg.path == tmp_path / "out" / "demo-0.1.0.difypkg"
    with zipfile.ZipFile(pkg.path) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
    assert names == sorted(names) == pkg.files
    assert "notes/keep.md" in names and ".difyignore" in names
    for gone in ("tests/test_x.py", "debug.log", "tools/__pycache__/demo.cpython-312.pyc", "notes/drop.md",
                 "utils/deep/x.log"):
        assert gone not in names
    assert pkg.uncompressed == sum((root / n).stat().st_size for n in names)


def test_build_is_reproducible(tmp_path: Path) -> None:
    root = write_plugin(tmp_path / "plugin")
    first = build(root, tmp_path / "a").path.read_bytes()
    assert build(root, tmp_path / "b").path.read_bytes() == first


def test_gitignore_is_used_when_there_is_no_difyignore(tmp_path: Path) -> None:
    root = write_plugin(tmp_path)
    (root / ".gitignore").write_text("README.md\n", encoding="utf-8")
    assert "README.md" not in collect_files(root)
    (root / ".difyignore").write_text("PRIVACY.md\n", encoding="utf-8")
    files = collect_files(root)
    assert "README.md" in files and "PRIVACY.md" not in files  # only one of the two files is read


def test_a_runtime_file_dropped_by_difyignore_stops_the_build(tmp_path: Path) -> None:
    root = write_plugin(tmp_path / "plugin")
    (root / ".difyignore").write_text("provider/*.py\n", encoding="utf-8")
    with pytest.raises(PackageError) as err:
        build(root, tmp_path / "out")
    assert err.value.problems == ["provider/demo.py: needed at runtime but excluded by .difyignore"]
    assert not (tmp_path / "out").exists()


def test_a_package_over_the_limit_lists_the_five_largest_files(tmp_path: Path) -> None:
    root = write_plugin(tmp_path / "plugin")
    for i in range(7):
        (root / "_assets" / f"big{i}.bin").write_bytes(b"\0" * (1000 + i * 100))
    with pytest.raises(PackageError) as err:
        build(root, tmp_path / "out", limit=5000)
    [line] = err.value.problems
    assert line.startswith("package too large: ") and "at most 5000" in line
    assert "1. _assets/big6.bin (1600 bytes)" in line and "5. _assets/big2.bin (1200 bytes)" in line
    assert "big1.bin" not in line
    assert not (tmp_path / "out").exists()


def test_the_command_prints_one_line_per_problem_and_writes_nothing(tmp_path: Path, capsys) -> None:
    root = write_plugin(tmp_path / "plugin", m=with_manifest(author="Me", icon="nope.svg"))
    assert main(["--root", str(root), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: manifest.yaml: author 'Me' must match")
    assert err[1] == "error: manifest.yaml: icon: _assets/nope.svg not found"
    assert err[2] == "package not written: 2 problem(s)"
    assert not (tmp_path / "out").exists()


def test_the_command_writes_the_package(tmp_path: Path, capsys) -> None:
    root = write_plugin(tmp_path / "plugin")
    assert main(["--root", str(root), "--out", str(tmp_path / "out")]) == 0
    assert "demo-0.1.0.difypkg" in capsys.readouterr().out
    assert (tmp_path / "out" / "demo-0.1.0.difypkg").is_file()
