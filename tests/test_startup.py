"""Start-up (issue 19): ``main.py`` lets the SDK read our YAML with libyaml's safe loader. That is
only right if both loaders read every YAML file the SDK reads exactly the same."""

from __future__ import annotations

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
