"""Where the shared data (/work/shared/data in the README's layout) is, from a CI clone or a worktree."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def shared_data(*parts: str) -> Path:
    """``shared/data/<parts>`` beside the repository (a CI clone: ``../shared``) or beside a folder
    above it (a worktree under ``/work/wt/<name>``: ``/work/shared``); ``$CURATE_SHARED_DATA`` wins.
    Returns the first candidate that exists, else the CI clone's path, so a skip message names it."""
    env = os.environ.get("CURATE_SHARED_DATA")
    bases = ([Path(env)] if env else []) + [d / "shared" / "data" for d in ROOT.parents]
    for base in bases:
        if base.joinpath(*parts).exists():
            return base.joinpath(*parts)
    return ROOT.parent.joinpath("shared", "data", *parts)


def need_shared_data(*parts: str) -> Path:
    """Like ``shared_data``, but skips the calling test (naming where it looked) if the file is absent."""
    import pytest

    path = shared_data(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (see ../shared/data/README.md)")
    return path
