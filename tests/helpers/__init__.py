"""Test helpers that are not tests (``tests/`` is on ``sys.path`` under pytest's prepend mode)."""
