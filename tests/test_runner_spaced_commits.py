"""Commits spaced out by the cost of saving step states: an interruption between two commits redoes
the uncommitted batches from the last commit, and the output equals an uninterrupted run's."""

from __future__ import annotations

import json

import pytest

from curate import Pipeline
from curate.dedup.exact import ExactDedup
from curate.errors import Interrupted
from curate.io.writers import read_records
from curate.runner.local import LocalRunner
from curate.steps.basic import DropIdentical
from tests.helpers.stop_at import StopAt


def _pipeline(hh_path, out) -> Pipeline:
    return Pipeline(input={"path": str(hh_path), "format": "hh"}, steps=[DropIdentical(), ExactDedup(), StopAt(7)],
                    output={"dir": str(out)}, name="spaced", batch_size=100)


def test_an_interruption_between_spaced_commits_resumes_to_the_same_output(tmp_path, hh_path, monkeypatch):
    _pipeline(hh_path, tmp_path / "ref").run()
    # saves look costly: after the first batch's commit no other is due before the stage ends
    monkeypatch.setattr(LocalRunner, "STATE_SPACING", 1e12)
    monkeypatch.setattr(StopAt, "armed", True)
    with pytest.raises(Interrupted):
        _pipeline(hh_path, tmp_path / "run").run()
    progress = json.loads((tmp_path / "run" / "state" / "progress.json").read_text())
    assert progress["done"] == 1  # six batches were written, one committed
    monkeypatch.setattr(StopAt, "armed", False)
    stats = _pipeline(hh_path, tmp_path / "run").run(resume=True)
    ref = json.loads((tmp_path / "ref" / "stats.json").read_text())
    assert read_records(tmp_path / "run").equals(read_records(tmp_path / "ref"))
    assert [(s["records_in"], s["records_out"]) for s in stats["steps"]] == \
        [(s["records_in"], s["records_out"]) for s in ref["steps"]]
    assert stats["read"] == ref["read"] and stats["rejected"] == ref["rejected"]
