"""steerlens: phase-based extrapolation morphs for image classifiers (arXiv 2506.02300)."""

from __future__ import annotations

__version__ = "0.1.0"
