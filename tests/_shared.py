"""Locate the shared real data (``../shared/data`` beside the repository root) for tests."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(relative: str) -> Path:
    """The path of a shared data file; skips the test (saying where it looked) only if it is absent."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (see ../shared/data/README.md)")
    return path
