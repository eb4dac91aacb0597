"""The runner with a full-pass step and a stateful step, in Python: stages, fit, state, drops."""

import json

import polars as pl
import pytest

from curate import Pipeline, Step
from curate.errors import Interrupted
from curate.io.writers import read_records
from curate.testing import make_pairs
from tests.helpers.stop_at import StopAt


class CountAll(Step):
    """Full-pass: learns the dataset size, then writes it on every row."""
    name = "count_all"
    needs_full_pass = True

    def fit(self, batches):
        self.total = sum(b.height for b in batches())

    def process(self, batch):
        return batch.with_columns(pl.lit(self.total).alias("total"))


class RunningIndex(Step):
    """Stateful: numbers rows across batches; drops every 5th."""
    name = "running_index"
    stateful = True

    def setup(self, ctx):
        self.seen = 0

    def process(self, batch):
        idx = pl.Series("n", range(self.seen, self.seen + batch.height))
        self.seen += batch.height
        batch = batch.with_columns(idx)
        return self.drop(batch, (idx % 5) == 4, "fifth")

    def save_state(self, d):
        (d / "seen.json").write_text(json.dumps(self.seen))

    def load_state(self, d):
        self.seen = json.loads((d / "seen.json").read_text())


def test_stages_fit_and_state(tmp_path):
    src = tmp_path / "in.parquet"
    make_pairs(23).write_parquet(src)
    p = Pipeline(input={"path": str(src)}, steps=[RunningIndex(), CountAll(), lambda b: b.head(b.height)],
                 output={"dir": str(tmp_path / "out")}, batch_size=5)
    assert [len(s) for s in p.stages()] == [1, 2]
    stats = p.run()
    out = read_records(tmp_path / "out")
    assert out.height == 23 - 4 and set(out["total"]) == {19}
    assert out["n"].to_list() == [n for n in range(23) if n % 5 != 4]
    assert stats["steps"][0]["dropped"] == {"fifth": 4}
    rejected = pl.read_parquet(sorted((tmp_path / "out" / "rejected").glob("*.parquet")))
    assert set(rejected["_reason"]) == {"fifth"} and set(rejected["_step"]) == {"running_index"}
    assert not (tmp_path / "out" / "stages").exists()  # intermediate stage removed at the end


class Releasing(RunningIndex):
    """Records when the runner tells it its stage is over."""
    name = "releasing"
    events: list[str] = []

    def process(self, batch):
        self.events.append("process")
        return super().process(batch)

    def release(self):
        self.events.append("release")
        self.seen = None  # a process() after this would fail


class FitAfter(CountAll):
    name = "fit_after"

    def fit(self, batches):
        Releasing.events.append("fit")
        super().fit(batches)


def _releasing(tmp_path, *after):
    src = tmp_path / "in.parquet"
    make_pairs(12).write_parquet(src)
    return Pipeline(input={"path": str(src)}, steps=[Releasing(), FitAfter(), *after],
                    output={"dir": str(tmp_path / "out")}, batch_size=5)


def test_a_stage_releases_its_steps_before_the_next_one(tmp_path):
    Releasing.events = []
    stats = _releasing(tmp_path).run()
    assert Releasing.events == ["process"] * 3 + ["release", "fit"]
    assert stats["steps"][0]["dropped"] == {"fifth": 2}  # its stats outlive the release


def test_a_resumed_run_releases_the_restored_states_of_finished_stages(tmp_path, monkeypatch):
    Releasing.events = []
    monkeypatch.setattr(StopAt, "armed", True)
    with pytest.raises(Interrupted):
        _releasing(tmp_path, StopAt(2)).run()  # stops in stage 2, after stage 1 committed
    assert Releasing.events == ["process"] * 3 + ["release", "fit"]
    Releasing.events = []
    monkeypatch.setattr(StopAt, "armed", False)
    stats = _releasing(tmp_path, StopAt(2)).run(resume=True)
    assert Releasing.events == ["release", "fit"]  # restored, released, never processed again
    assert stats["output"]["records"] == 12 - 2
