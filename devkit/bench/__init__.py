"""Benchmarks of issue 5 (``python -m devkit.bench``); see ``__main__.py``. Not part of the tests."""
