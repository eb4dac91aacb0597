"""Routed pairs from a pipeline run come back as human votes and change the ensemble's decision."""

from __future__ import annotations

import json
import uuid

import polars as pl
from click.testing import CliRunner

from curate.annotate.sqlite_store import SQLiteStore
from curate.annotate.steps import HumanVotes, RouteToHumans
from curate.cli.main import cli
from curate.io.writers import read_records, write_frame
from curate.pipeline import Pipeline
from curate.vote.ensemble import Ensemble
from tests.helpers.annotate import PASSWORD, voted_pairs


def test_route_pull_changes_decision(tmp_path):
    db = tmp_path / "annotate.db"
    write_frame(voted_pairs(), tmp_path / "in.parquet")
    run = tmp_path / "run"
    Pipeline(input={"path": str(tmp_path / "in.parquet")},
             steps=[Ensemble(), RouteToHumans(task="t", store={"path": str(db)}, overlap=2)],
             output={"dir": str(run)}).run(run_dir=run)
    before = read_records(run).sort("id")
    routed = before.filter(pl.col("decision") == "route")
    assert routed.height == 3 and set(routed["human_status"]) == {"routed"}

    # two annotators prefer the *rejected* response of every routed pair, seen in their own A/B order
    store = SQLiteStore(db)
    for name in ("ann1", "ann2"):
        store.add_user(name, password=PASSWORD)
        store.assign("t", [name])
        user = store.user(name)
        while (item := store.next_item("t", user)) is not None:
            store.submit("t", user, item.item_id, str(uuid.uuid4()), "A" if item.a_is == "rejected" else "B")

    out = tmp_path / "pulled.parquet"
    res = CliRunner().invoke(cli, ["annotate", "pull", str(run), "--task", "t", "--db", str(db), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "6 human votes on 3 routed pairs; 0 still waiting" in res.output
    after = pl.read_parquet(out).sort("id")
    was_routed = pl.Series(before["decision"] == "route")
    assert after.filter(was_routed)["decision"].to_list() == ["flip"] * 3  # humans overruled the pair
    assert set(after.filter(was_routed)["decision_reason"]) == {"human_resolved"}
    assert after.filter(was_routed)["chosen"].to_list() == before.filter(was_routed)["rejected"].to_list()
    assert after.filter(~was_routed)["decision"].to_list() == before.filter(~was_routed)["decision"].to_list()
    assert set(after["human_status"].drop_nulls()) == {"done"}

    # pulling again onto the already-flipped output adds nothing and keeps the votes' orientation
    again = HumanVotes(task="t", store={"path": str(db)})(after)
    assert again["votes"].list.len().to_list() == after["votes"].list.len().to_list()
    humans = again.filter(was_routed)["votes"].explode().struct.unnest().filter(pl.col("kind") == "human")
    assert humans.height == 6 and set(humans["p_chosen"]) == {1.0}  # the new chosen is the humans' pick
    assert set(Ensemble()(again).filter(was_routed)["decision"]) == {"keep"}


def test_waiting_and_skips(tmp_path):
    db = tmp_path / "a.db"
    df = voted_pairs().with_columns(pl.lit("route").alias("decision"))
    route = RouteToHumans(task="t", store={"path": str(db)}, overlap=2)
    route(df)
    route(df)  # pushing twice adds nothing
    assert route.stats.counts["pushed_new"] == 6 and route.stats.counts["already_in_store"] == 6
    store = SQLiteStore(db)
    store.add_user("ann1", password=PASSWORD)
    store.assign("t", ["ann1"])
    user = store.user("ann1")
    for choice in ("A", "skip", "tie"):
        item = store.next_item("t", user)
        store.submit("t", user, item.item_id, str(uuid.uuid4()), choice)
    pull = HumanVotes(task="t", store={"path": str(db)})
    out = pull(df)
    assert pull.stats.counts["human_votes"] == 2 and pull.stats.counts["skips"] == 1
    assert out["human_status"].to_list() == ["waiting"] * 6  # overlap 2 is not reached by one annotator
    tie = [v for vs in out["votes"].to_list() for v in vs if v["kind"] == "human" and v["p_chosen"] == 0.5]
    assert len(tie) == 1 and json.loads(tie[0]["raw"])["choice"] == "tie"
    assert pull.summary() == {"waiting_rate": 1.0}
