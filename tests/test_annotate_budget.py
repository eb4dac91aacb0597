"""Budgeted routing: a global budget, spread over prompts, a random audit slice, and the calibrate loop."""

from __future__ import annotations

import uuid

import numpy as np
import polars as pl

from curate.annotate.budget import budget_size, spread_order
from curate.annotate.sqlite_store import SQLiteStore
from curate.annotate.steps import HumanVotes, RouteToHumans
from curate.io.writers import read_records, write_frame
from curate.pipeline import Pipeline
from curate.schema import VoteKind, add_votes, frame, make_pair
from curate.vote.ensemble import Ensemble
from tests.helpers.annotate import PASSWORD


def test_spread_order_gives_every_group_one_before_any_gets_two():
    # group 0 holds the four most uncertain rows; groups 1-3 one each, less uncertain
    u = np.array([0.99, 0.98, 0.97, 0.96, 0.5, 0.4, 0.3])
    g = np.array([0, 0, 0, 0, 1, 2, 3])
    assert spread_order(u, g).tolist() == [0, 4, 5, 6, 1, 2, 3]


def test_budget_size_takes_the_smaller_limit():
    assert budget_size(1000, 50, None) == 50
    assert budget_size(1000, 50, 0.01) == 10
    assert budget_size(1000, None, 0.2) == 200
    assert budget_size(30, 50, None) == 30


def _routed_frame() -> pl.DataFrame:
    """12 routed pairs: 8 share one prompt and sit at p = 0.5; 4 other prompts are less uncertain."""
    prompts = ["same prompt?"] * 8 + [f"other prompt {i}?" for i in range(4)]
    df = frame([make_pair(p, f"good {i}", f"bad {i}", "t") for i, p in enumerate(prompts)])
    p = [0.5] * 8 + [0.3, 0.35, 0.4, 0.45]
    return df.with_columns(pl.Series("p_chosen", p), pl.lit(0.0).alias("strength_std"),
                           pl.lit("route").alias("decision"))


def test_budget_spreads_across_prompts_and_marks_audits(tmp_path):
    df = _routed_frame()
    step = RouteToHumans(task="t", store={"path": str(tmp_path / "a.db")}, budget=5, random_share=0.0)
    out = step(df)
    pushed = out.filter(pl.col("human_status") == "routed")
    assert pushed.height == 5 and step.stats.counts["over_budget"] == 7
    # one pair of the crowded prompt, then each of the four other prompts
    assert pushed["prompt"].list.first().struct.field("content").value_counts()["count"].max() == 1
    assert set(out.filter(pl.col("human_status") == "over_budget")["route_reason"].to_list()) == {None}
    assert set(pushed["route_reason"]) == {"uncertain"}
    assert all('"route_reason":"uncertain"' in p.replace(" ", "") for p in pushed["provenance"])

    audit = RouteToHumans(task="u", store={"path": str(tmp_path / "b.db")}, budget=4, random_share=0.5)
    out = audit(df.with_columns(pl.Series("decision", ["keep"] * 6 + ["route"] * 6)))
    reasons = out["route_reason"].drop_nulls().value_counts().sort("route_reason")
    assert dict(reasons.iter_rows()) == {"random_audit": 2, "uncertain": 2}
    assert audit.stats.counts["routed"] == 4


def test_budget_is_global_across_batches(tmp_path):
    db = tmp_path / "a.db"
    write_frame(_noisy_voted(60)[0], tmp_path / "in.parquet")
    run = tmp_path / "run"
    route = RouteToHumans(task="t", store={"path": str(db)}, budget=8, random_share=0.25)
    Pipeline(input={"path": str(tmp_path / "in.parquet")}, batch_size=7,
             steps=[Ensemble(policy="soft"), route], output={"dir": str(run)}).run(run_dir=run)
    out = read_records(run)
    assert (out["human_status"] == "routed").sum() == 8  # not 8 per batch of 7
    assert (out["human_status"] == "over_budget").sum() > 0
    assert (out["route_reason"] == "random_audit").sum() == 2
    assert SQLiteStore(db).progress("t")["items"] == 8


def _noisy_voted(n: int = 600, noise: float = 0.2, seed: int = 0) -> tuple[pl.DataFrame, dict[str, str]]:
    """n pairs, `noise` of them with the label wrong; 3 vote families that see the truth with noise.
    Returns the frame and pair id → the truly better response."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(n) < noise
    pairs = []
    for i in range(n):
        good, bad = f"right answer {i}", f"wrong answer {i}"
        pairs.append(make_pair(f"question {i // 3}?", bad if wrong[i] else good, good if wrong[i] else bad, "t"))
    df = frame(pairs)
    for j in range(3):
        z = rng.normal(np.where(wrong, -2.0, 2.0), 1.2)
        df = add_votes(df, f"rm{j}", VoteKind.RM, (1 / (1 + np.exp(-z))).tolist(), margin=z.tolist())
    truth = {pid: (r if w else c) for pid, c, r, w in zip(df["id"], df["chosen"], df["rejected"], wrong)}
    return df, truth


def _oracle_answers(db, task: str, truth: dict[str, str]) -> int:
    """A simulated annotator who knows the gold answers every item through the store API."""
    store = SQLiteStore(db)
    store.add_user("oracle", password=PASSWORD)
    store.assign(task, ["oracle"])
    user, n = store.user("oracle"), 0
    while (item := store.next_item(task, user)) is not None:
        answer = "A" if item.response_a == truth[item.pair_id] else "B"
        store.submit(task, user, item.item_id, str(uuid.uuid4()), answer)
        n += 1
    store.close()
    return n


def test_budgeted_round_trip_calibrates_on_human_answers(tmp_path):
    db = tmp_path / "a.db"
    df, truth = _noisy_voted()
    voted = Ensemble(policy="soft")(df)
    assert set(voted["decision"]) <= {"keep", "route"}  # soft without gold: nothing flipped or dropped
    route = RouteToHumans(task="t", store={"path": str(db)}, budget=150, random_share=0.4)
    routed = route(voted)
    assert route.stats.counts["routed"] == 150 and route.stats.counts["route_reason.random_audit"] == 60
    assert _oracle_answers(db, "t", truth) == 150

    pull = HumanVotes(task="t", store={"path": str(db)})
    pulled = pull(routed)
    est = pull.stats.figures["audit"]
    true_acc = float(np.mean([c == truth[i] for i, c in zip(routed["id"], routed["chosen"])]))
    acc = est["label_accuracy"]
    assert est["answered"] == 60 and acc["lower95"] <= true_acc <= acc["upper95"]
    noise = est["label_noise_before"]
    assert noise["lower95"] <= 1 - true_acc <= noise["upper95"]  # soft flipped nothing: noise = 1 - accuracy

    # re-run the ensemble with the people's answers as gold: thresholds come from them
    ens = Ensemble(policy="soft", gold={"humans": True, "target_precision": 0.9})
    ens.fit(lambda: iter([pulled]))
    final = ens(pulled)
    cal = ens.stats.figures["calibration"]
    assert cal["gold_rows"] == 150 and cal["flip_below"] is not None
    correct = pl.Series([c == truth[i] for i, c in zip(final["id"], final["chosen"])])
    human = final["human_status"] == "routed"
    assert correct.filter(human).all()  # every answered pair follows the oracle
    flipped_by_machine = (final["decision_reason"] == "calibrated_against").to_numpy()
    assert flipped_by_machine.sum() >= 5
    # the bound (>= 0.9 on gold) holds for the population; 17-odd flips outside gold scatter around it
    assert correct.to_numpy()[flipped_by_machine].mean() >= 0.8
    assert correct.mean() > true_acc
