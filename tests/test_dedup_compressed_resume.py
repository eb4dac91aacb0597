"""semantic_dedup on the compressed index inside a run: its vectors spill under RUN/spill, a saved
state links them, and a run interrupted after the index was trained resumes to the
same output as an uninterrupted one."""

from __future__ import annotations

import json

import pytest

from curate import Pipeline
from curate.dedup.semantic import SemanticDedup
from curate.errors import Interrupted
from curate.io.writers import read_records
from tests.helpers.stop_at import StopAt

pytest.importorskip("faiss")


def _pipeline(hh_path, out) -> Pipeline:
    dedup = SemanticDedup(embedder={"backend": "hashing", "cache": False, "options": {"dim": 64}}, fields=["response"],
                          threshold=0.9, index={"kind": "compressed", "ivf_threshold": 650})
    return Pipeline(input={"path": str(hh_path), "format": "hh"}, steps=[dedup, StopAt(15)],
                    output={"dir": str(out)}, name="compressed", batch_size=100)


def test_compressed_index_run_resumes_to_the_same_output(tmp_path, hh_path, monkeypatch):
    ref = _pipeline(hh_path, tmp_path / "ref").run()
    summary = next(s for s in ref["steps"] if s["name"] == "semantic_dedup")
    assert summary["records_out"] < summary["records_in"]  # it removes something
    monkeypatch.setattr(StopAt, "armed", True)
    with pytest.raises(Interrupted):
        _pipeline(hh_path, tmp_path / "run").run()
    run = tmp_path / "run"
    progress = json.loads((run / "state" / "progress.json").read_text())
    state = run / "state" / "steps" / progress["states"]["semantic_dedup"] / "response"
    meta = json.loads((state / "index.json").read_text())
    assert meta["kind"] == "compressed" and meta["trained_on"] >= 650  # trained before the interruption
    assert (state / "vectors.f16").stat().st_nlink >= 1 and list((run / "spill").rglob("*.f16")) == []
    monkeypatch.setattr(StopAt, "armed", False)
    stats = _pipeline(hh_path, run).run(resume=True)
    assert read_records(run).equals(read_records(tmp_path / "ref"))
    assert stats["rejected"] == ref["rejected"]
