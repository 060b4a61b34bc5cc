"""Editing methods, one object each (:class:`Method`), and their registry (:data:`METHODS`).

Examples
--------
>>> from steerlens.methods import get_method, method_names
>>> len(method_names()), get_method("csp-motion").transform_name
(9, 'flow')
"""

from __future__ import annotations

from steerlens.methods.base import Method, Settings
from steerlens.methods.registry import METHODS, get_method, method_help, method_names

__all__ = ["METHODS", "Method", "Settings", "get_method", "method_help", "method_names"]
