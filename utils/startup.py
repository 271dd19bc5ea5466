"""What start-up needs from us: the SDK's YAML read with libyaml (issue 19)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import yaml


@contextmanager
def libyaml_safe_load() -> Iterator[None]:
    """While the SDK reads the manifest and the provider/tool YAML (``yaml.safe_load``, which looks
    ``yaml.SafeLoader`` up at each call), that name is libyaml's ``CSafeLoader``: the same safe
    constructor and resolver over the C parser, ~10x faster on our ~50 KB of YAML (issue 19:
    start-up). The SDK is not touched and the name is restored at once; without libyaml nothing
    changes. ``tests/test_startup.py`` checks both loaders read every YAML file the same."""
    fast = getattr(yaml, "CSafeLoader", None) if yaml.__with_libyaml__ else None
    if fast is None:
        yield
        return
    pure = yaml.SafeLoader
    yaml.SafeLoader = fast
    try:
        yield
    finally:
        yaml.SafeLoader = pure
