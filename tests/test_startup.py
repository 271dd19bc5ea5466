"""Start-up (issue 19): ``main.py`` lets the SDK read our YAML with libyaml's safe loader. That is
only right if both loaders read every YAML file the SDK reads exactly the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from utils.startup import libyaml_safe_load

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([ROOT / "manifest.yaml", *ROOT.glob("provider/*.yaml"), *ROOT.glob("tools/*.yaml")])


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_libyaml_reads_our_yaml_as_the_pure_python_loader_does(path):
    text = path.read_text(encoding="utf-8")
    assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.load(text, Loader=yaml.SafeLoader)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_the_fast_loader_is_used_only_inside_and_always_restored():
    pure = yaml.SafeLoader
    with libyaml_safe_load():
        assert yaml.SafeLoader is yaml.CSafeLoader
        assert yaml.safe_load("a: [1, 2]") == {"a": [1, 2]}
    assert yaml.SafeLoader is pure
    with pytest.raises(RuntimeError), libyaml_safe_load():
        raise RuntimeError("the SDK failed to load")
    assert yaml.SafeLoader is pure


def test_main_loads_the_plugin_inside_it():
    assert "with libyaml_safe_load():\n    plugin = Plugin(" in (ROOT / "main.py").read_text(encoding="utf-8")


# What start-up may import of ours: main's own needs (the log filter, the YAML loader) and what the
# provider's module-level helpers use. Everything a call needs is imported at first use, and by
# main.warm_up right after the first heartbeat (issue 19: start-up <= 60 ms, first call <= 30 ms).
STARTUP_MODULES = {"utils", "utils.errors", "utils.secrets", "utils.startup", "provider", "tools"}
HEAVY = ("jmespath", "httpcore", "httpx_sse", "json_repair")


@pytest.fixture(scope="module")
def loaded():
    """Modules loaded after start-up, after ``main.warm_up``, and after a first call of each tool and a
    credentials check (``tests/startup_probe.py``, in a fresh process started as the daemon starts it)."""
    env = {**os.environ, "INSTALL_METHOD": "local"}
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "startup_probe.py")], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=True)
    return {step: set(names) for step, names in json.loads(done.stderr.strip().splitlines()[-1]).items()}


def test_start_up_imports_none_of_the_run_modules(loaded):
    ours = {name for name in loaded["started"] if name.split(".")[0] in ("utils", "tools", "provider")}
    assert ours <= STARTUP_MODULES, sorted(ours - STARTUP_MODULES)
    assert not [name for name in loaded["started"] if name.split(".")[0] in HEAVY]


def test_warm_up_imports_everything_a_first_call_needs(loaded):
    assert loaded["first_use"] <= loaded["warm"]
    assert "httpcore" in loaded["warm"]
    # nothing either, of the SDK's: the Session it builds for a call imports its invocation modules
    late = loaded["called"] - loaded["warm"]
    assert not late, sorted(late)
