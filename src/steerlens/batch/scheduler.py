"""Moved to :mod:`steerlens.runs.scheduler`; this name stays for old imports."""

from steerlens.runs.scheduler import PROTOCOLS, check_scheduler

__all__ = ["PROTOCOLS", "check_scheduler"]
