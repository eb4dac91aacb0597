"""The data card of a real run: renders with its plots, and its figures match the run's stats."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml

from curate import Pipeline
from curate.export.step import Export
from curate.schema import add_votes
from curate.step import Step
from curate.steps.basic import DropIdentical, LengthFilter


class FakeJudge(Step):
    """Adds strength, p_chosen and two votes; reports a position-consistency figure (as a judge would).

    Reads: chosen. Writes: strength, p_chosen, votes.
    """

    name = "fake_judge"
    outputs = ("strength", "p_chosen", "votes")

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        n = batch.height
        longer = (batch["chosen"].str.len_chars() > batch["rejected"].str.len_chars()).to_list()
        self.stats.count("position_consistent", sum(longer))
        self.stats.count("judged", n)
        batch = add_votes(batch, "judge-a", "llm_judge", [0.8 if x else 0.3 for x in longer])
        batch = add_votes(batch, "judge-b", "llm_judge", [0.7] * n)
        return batch.with_columns(pl.Series("p_chosen", [0.8 if x else 0.3 for x in longer]),
                                  pl.Series("strength", [0.6 if x else 0.1 for x in longer]))

    def summary(self) -> dict:
        c = self.stats.counts
        return {"position_consistency": round(c["position_consistent"] / max(c["judged"], 1), 4)}


@pytest.fixture(scope="module")
def run(hh_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("card-run")
    p = Pipeline(input={"path": str(hh_path), "format": "hh", "limit": 400},
                 steps=[DropIdentical(), LengthFilter(max_response_chars=1500), FakeJudge(),
                        Export(layout="trl", license="mit", splits={"train": 0.8, "test": 0.2})],
                 output={"dir": str(out)}, name="card-test", batch_size=150)
    stats = p.run()
    return out, stats


def _table(card: str, heading: str) -> list[list[str]]:
    block = card.split(f"### {heading}\n", 1)[1].split("\n\n", 2)
    lines = next(b for b in block if b.lstrip().startswith("|")).strip().splitlines()
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def _int(s: str) -> int:
    return int(s.replace(",", ""))


def test_card_renders_with_plots(run):
    out, _ = run
    card = (out / "export" / "README.md").read_text()
    for name in ("funnel", "lengths", "strength"):
        assert f"](plots/{name}.png)" in card
        png = (out / "export" / "plots" / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and 3_000 < len(png) < 200_000
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "mit" and meta["size_categories"] == ["n<1K"]
    assert [d["split"] for d in meta["configs"][0]["data_files"]] == ["train", "test"]
    assert "pipeline.yaml" not in card or "```yaml" in card


def test_card_figures_match_the_run_stats(run):
    out, _ = run
    stats = json.loads((out / "stats.json").read_text())
    card = (out / "export" / "README.md").read_text()
    funnel = {r[0]: tuple(map(_int, r[1:])) for r in _table(card, "Records per stage")}
    assert funnel["read"] == (stats["read"]["records_in"], stats["read"]["records_out"],
                              stats["read"]["records_in"] - stats["read"]["records_out"])
    for s in stats["steps"]:
        assert funnel[s["name"]] == (s["records_in"], s["records_out"], s["records_in"] - s["records_out"])
    drops = {(r[0], r[1]): _int(r[2]) for r in _table(card, "Drops by reason")}
    want = {("read", k): v for k, v in stats["read"]["dropped"].items()}
    want.update({(s["name"], k): v for s in stats["steps"] for k, v in s["dropped"].items()})
    assert drops == want and sum(want.values()) > 0
    judge = next(s for s in stats["steps"] if s["name"] == "fake_judge")
    pc = judge["figures"]["position_consistency"]
    rows = [r[1:] for r in _table(card, "Judge position consistency") if r[0] == "fake_judge"]
    assert ["position consistency", f"{pc:.3f}"] in rows
    export = next(s for s in stats["steps"] if s["name"] == "export")
    splits = {r[0]: _int(r[1]) for r in _table(card.replace("## Dataset structure", "### split table"),
                                                       "split table")}
    assert splits == export["figures"]["split_records"]
    assert sum(splits.values()) == stats["output"]["records"]


def test_card_data_figures_match_the_records(run):
    out, _ = run
    data = pl.read_parquet(out / "data" / "*.parquet")
    card = (out / "export" / "README.md").read_text()
    longer = (data["chosen"].str.len_chars() > data["rejected"].str.len_chars()).mean()
    shorter = (data["chosen"].str.len_chars() < data["rejected"].str.len_chars()).mean()
    side, rate = ("shorter", shorter) if shorter > longer else ("longer", longer)
    assert f"the {side} one in {100 * rate:.1f}% of pairs" in card
    assert f"mean {data['strength'].mean():.3f}" in card
    voters = {r[0]: r for r in _table(card, "Voters")}
    assert set(voters) == {"judge-a", "judge-b"}
    assert _int(voters["judge-a"][1]) == data.height  # every record has both votes
    # the run's data records which split every pair went to, and the export agrees
    assert data.group_by("split").len().sort("split").rows() == sorted(
        json.loads((out / "export" / "export.json").read_text())["splits"].items())


def test_card_tallies_the_run_a_shard_at_a_time_with_the_whole_frames_figures(run, monkeypatch):
    """The card reads the shards' response lengths, not texts, and sums its figures a group of shards
    at a time: the same figures as the whole output read at once."""
    from curate.card import data_figures as figures_mod
    from curate.io.writers import shard_files

    out, _ = run
    seen = []
    add = figures_mod.CardTally.add
    monkeypatch.setattr(figures_mod.CardTally, "add", lambda self, df: seen.append(df.columns) or add(self, df))
    tally = figures_mod.card_tally(out, group=2)  # two shards read at a time
    assert len(seen) == -(-len(shard_files(out)) // 2) > 1
    assert all({"chosen_chars", "rejected_chars"} <= set(c) and not {"chosen", "rejected"} & set(c) for c in seen)
    full = pl.read_parquet(out / "data" / "*.parquet")
    got, want = tally.figures(), figures_mod.data_figures(full)
    assert got == want and got["lengths"]["chosen_mean_chars"] > 0 and got["votes"]["voters"]


def test_card_tally_of_a_jsonl_run_equals_the_whole_frames_figures(hh_path, tmp_path):
    """JSONL shards are read whole and narrowed to the card's columns, in groups, as Parquet ones are."""
    from curate.card import data_figures as figures_mod
    from curate.io.writers import read_records, shard_files

    Pipeline(input={"path": str(hh_path), "format": "hh", "limit": 300},
             steps=[DropIdentical(), FakeJudge()], output={"dir": str(tmp_path), "format": "jsonl"},
             name="card-jsonl", batch_size=100).run()
    assert {f.suffix for f in shard_files(tmp_path)} == {".jsonl"} and len(shard_files(tmp_path)) > 2
    got = figures_mod.card_tally(tmp_path, group=2).figures()
    assert got == figures_mod.data_figures(read_records(tmp_path))
    assert got["records"] > 0 and got["lengths"]["chosen_mean_chars"] > 0 and got["votes"]["voters"]
