"""Worked example problems bundled with gradcalc (package data: ``*.yaml``)."""

from __future__ import annotations

from pathlib import Path

PROBLEMS_DIR = Path(__file__).parent


def bundled() -> list[Path]:
    """Every bundled problem spec, sorted by name."""
    return sorted(PROBLEMS_DIR.glob("*.yaml"))
