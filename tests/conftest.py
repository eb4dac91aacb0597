"""Shared test setup: offline, a private cache dir, and the shared HH sample's path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.data import shared_data

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HH = shared_data("hh-rlhf-harmless-base-test.jsonl.gz")


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    os.environ["CURATE_CACHE_DIR"] = str(tmp_path_factory.mktemp("curate-cache"))


@pytest.fixture(scope="session")
def hh_path() -> Path:
    if not HH.exists():
        pytest.skip(f"shared data not found at {HH}")
    return HH
