"""The bench tests' session build, ``ci_bench``, lives in tests/conftest.py: tests/jobs builds on Ray against it."""
