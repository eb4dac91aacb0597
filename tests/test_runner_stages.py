"""The runner with a full-pass step and a stateful step, in Python: stages, fit, state, drops."""

import json

import polars as pl

from curate import Pipeline, Step
from curate.io.writers import read_records
from curate.testing import make_pairs


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
