"""The embedding BT voter: cross-fitting math, a full pipeline with the fake embedder, and (slow) the
bundled MiniLM on a slice of the real HH data."""

import json

import numpy as np
import polars as pl
import pytest

from curate.io.writers import read_records, write_frame
from curate.pipeline import Pipeline
from curate.schema import frame, make_pair
from curate.vote.bt import cross_fit, fold_ids
from curate.vote.embed_bt import EmbedBTVoter
from curate.vote.ensemble import EnsembleDS

FAKE = {"backend": "fake", "cache": False}
WRONG = {3, 11, 17, 24, 30, 38}  # pairs stored with the bad answer marked chosen


def noisy_pairs(n: int = 48) -> pl.DataFrame:
    recs = []
    for i in range(n):
        good, bad = f"good answer {i}, done carefully", f"bad answer {i}"
        c, r = (bad, good) if i in WRONG else (good, bad)
        recs.append(make_pair(f"q {i}: how do I do thing {i}?", c, r, "test"))
    return frame(recs)


def test_cross_fit_is_out_of_fold_and_antisymmetric():
    rng = np.random.default_rng(0)
    w = rng.normal(size=8)
    d = rng.normal(size=(200, 8))
    y = (d @ w > 0).astype(float)
    m = cross_fit(d, y, k=5, c=1.0, seed=1)
    assert ((m > 0) == (y == 1)).mean() > 0.9
    # every fold model was fitted without its own rows: predicting a fold's rows with the model of
    # another split gives different numbers, but the folds partition the rows exactly
    folds = fold_ids(200, 5, 1)
    assert sorted(np.bincount(folds)) == [40] * 5
    m_swapped = cross_fit(-d, 1 - y, k=5, c=1.0, seed=1)
    np.testing.assert_allclose(m_swapped, -m, atol=1e-6)  # no intercept: swapping sides flips the logit


def test_voter_in_a_pipeline_finds_the_wrong_labels(tmp_path):
    src = write_frame(noisy_pairs(), tmp_path / "in.parquet")
    p = Pipeline(input={"path": str(src), "format": "curate"}, batch_size=16,
                 steps=[EmbedBTVoter(embedder=FAKE, feature_maps=["resp", "prompt_resp"], seeds=[0, 1], folds=4,
                                     C=10.0),
                        # four views of one embedding are one family; counted as independent here on
                        # purpose, to check the votes themselves (the family default is tested below)
                        EnsembleDS(policy="hard", families=False)],
                 output={"dir": str(tmp_path / "run")})
    stats = p.run()
    out = read_records(tmp_path / "run" / "data")
    assert out["votes"].list.len().to_list() == [4] * out.height
    flipped = {int(t.split()[2].rstrip(",")) for t in out.filter(pl.col("flipped"))["chosen"]}
    assert flipped == WRONG
    assert out["chosen"].str.starts_with("good").all()  # every stored pair now prefers the good answer
    bt = stats["steps"][0]
    assert set(bt["figures"]["oof_accuracy"]) == {"embed_bt_voter:resp:s0", "embed_bt_voter:resp:s1",
                                                  "embed_bt_voter:prompt_resp:s0", "embed_bt_voter:prompt_resp:s1"}
    # out-of-fold, a voter agrees with the noisy labels on the clean pairs only
    assert all(a == pytest.approx(1 - len(WRONG) / 48, abs=0.05) for a in bt["figures"]["oof_accuracy"].values())
    ds = stats["steps"][1]
    assert ds["counts"]["decision.flip"] == len(WRONG)
    # margins are BT logits, negated with the flip
    row = out.filter(pl.col("flipped")).row(0, named=True)
    assert all(v["margin"] > 0 and v["p_chosen"] > 0.5 for v in row["votes"])
    assert json.loads(row["provenance"])[-1]["event"] == "flip"


def test_too_few_pairs_is_a_clear_error():
    from curate.errors import ConfigError

    step = EmbedBTVoter(embedder=FAKE, folds=5)
    with pytest.raises(ConfigError, match="too few"):
        step.fit(lambda: iter([noisy_pairs(6)]))


def test_unknown_feature_map_is_rejected():
    with pytest.raises(ValueError, match="unknown feature map"):
        EmbedBTVoter(feature_maps=["nope"])


@pytest.mark.slow
def test_minilm_voter_beats_chance_on_real_hh(hh_path):
    from curate.io.reader import Reader

    df = next(Reader(str(hh_path), batch_size=600).batches()).frame
    step = EmbedBTVoter(folds=5)
    step.fit(lambda: iter([df]))
    out = step(df)
    acc = step.stats.figures["oof_accuracy"]["embed_bt_voter:prompt_resp:s0"]
    assert acc > 0.55, acc  # 0.609 here (480 training pairs per fold); 0.62 on all 2,303 pairs
    assert out["votes"].list.len().min() == 1


def test_vote_steps_from_yaml(tmp_path):
    src = write_frame(noisy_pairs(), tmp_path / "in.parquet")
    cfg = tmp_path / "vote.yaml"
    cfg.write_text(f"""
name: vote-yaml
input: {{path: "{src}", format: curate}}
batch_size: 20
steps:
  - step: bias_report
    token_budget: 64
  - step: embed_bt_voter
    embedder: {{backend: fake, cache: false}}
    feature_maps: [resp]
    seeds: [0, 1, 2]
    folds: 4
    C: 10
  - step: ensemble
    policy: hard
    flip_below: 0.3
    flip_min_voters: 1   # the three seeds are one family (one embedding): one witness
output: {{dir: "{tmp_path / 'run'}"}}
""")
    stats = Pipeline.from_yaml(cfg).run()
    steps = {s["step"]: s for s in stats["steps"]}
    assert steps["bias_report"]["figures"]["longer_wins_rate"] == pytest.approx(42 / 48, abs=1e-3)
    assert steps["ensemble"]["counts"]["decision.flip"] == len(WRONG)
    assert stats["output"]["records"] + stats["rejected"] == 48
