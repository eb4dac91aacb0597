"""The reward-model scorer with a tiny sequence-classification model built here (no Hub)."""

import json
import math

import pytest

from curate.context import RunContext
from curate.rm.model import RewardModel
from curate.rm.score import RMScore, sigmoid
from curate.schema import frame, make_candidate, make_pair
from curate.testing.tiny_rm import build_tiny_rm

CORPUS = ["how do I bake bread", "mix flour water and yeast then bake it", "I will not help with that",
          "what is the capital of France", "Paris is the capital", "no idea sorry", "tell me a joke",
          "why did the chicken cross the road"]


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory):
    return build_tiny_rm(tmp_path_factory.mktemp("tiny-rm"), CORPUS)


def pairs():
    return frame([
        make_pair("how do I bake bread", "mix flour water and yeast then bake it", "no idea sorry"),
        make_pair("what is the capital of France", "Paris is the capital", "I will not help with that"),
        make_pair([{"role": "system", "content": "tell me a joke"}, {"role": "user", "content": "why"}],
                  "why did the chicken cross the road", "no"),
    ])


def test_batched_scores_equal_one_at_a_time(tiny_rm):
    rm = RewardModel(tiny_rm, device="cpu", batch_size=4)
    convs = [[{"role": "user", "content": "how do I bake bread"}, {"role": "assistant", "content": t}]
             for t in ["no", "mix flour water and yeast then bake it", "Paris", "I will not help with that bread"]]
    batched, cut = rm.score(convs)
    single = [RewardModel.score(rm, [c])[0][0] for c in convs]
    assert cut == 0 and batched.tolist() == pytest.approx(single, abs=1e-5)
    assert len(set(round(x, 6) for x in single)) == 4  # different texts, different rewards
    ids, _ = rm.encode(convs[0])
    assert rm.tok.decode(ids).startswith("<user> how do I bake bread <end> <assistant>")


def test_votes_are_sigmoid_of_differences(tiny_rm, tmp_path):
    step = RMScore(model=tiny_rm, batch_size=2, device="cpu")
    step.setup(RunContext.for_dir(tmp_path))
    out = step(pairs())
    rm = RewardModel(tiny_rm, device="cpu")
    for row, vote in zip(pairs().iter_rows(named=True), [v[-1] for v in out["votes"].to_list()]):
        rc = rm.score([row["prompt"] + [{"role": "assistant", "content": row["chosen"]}]])[0][0]
        rr = rm.score([row["prompt"] + [{"role": "assistant", "content": row["rejected"]}]])[0][0]
        assert vote["margin"] == pytest.approx(rc - rr, abs=1e-5)
        assert vote["p_chosen"] == pytest.approx(1 / (1 + math.exp(-(rc - rr))), abs=1e-6)
        assert json.loads(vote["raw"])["r_chosen"] == pytest.approx(rc, abs=1e-5)
        assert vote["kind"] == "rm" and vote["voter"] == f"rm:{tiny_rm.rsplit('/', 1)[-1]}"
    assert step.stats.counts["scored"] == 6 and step.stats.counts["pairs"] == 3
    assert step.summary()["chosen_higher_rate"] == round(step.stats.counts["chosen_higher"] / 3, 4)
    assert step.stats.figures["rm"]["device"] == "cpu" and step.stats.figures["rm"]["dtype"] == "float32"


def test_truncation_keeps_the_end(tiny_rm):
    rm = RewardModel(tiny_rm, device="cpu", max_length=8)
    long = [{"role": "user", "content": "how do I bake bread " * 10}, {"role": "assistant", "content": "Paris"}]
    (ids, cut) = rm.encode(long)
    assert cut and len(ids) == 8 and rm.tok.decode(ids).endswith("<assistant> Paris <end>")
    assert rm.score([long])[1] == 1


def test_candidates_get_scores(tiny_rm, tmp_path):
    step = RMScore(model=tiny_rm, device="cpu")
    step.setup(RunContext.for_dir(tmp_path))
    cands = frame([make_candidate("how do I bake bread", [{"text": "no idea sorry"}, {"text": "Paris"}])],
                  kind="candidate")
    out = step(cands)
    rs = out["responses"].to_list()[0]
    assert all(isinstance(r["score"], float) for r in rs) and rs[0]["score"] != rs[1]["score"]
    assert json.loads(rs[0]["provenance"])["rm_score"] == rs[0]["score"] and out.schema == cands.schema


def test_sigmoid_is_stable():
    assert sigmoid(0) == 0.5 and sigmoid(-1000) == 0.0 and sigmoid(1000) == 1.0


def test_bad_model_path_is_a_clear_error(tmp_path):
    from curate.errors import BackendError

    with pytest.raises(BackendError, match="cannot load reward model"):
        RewardModel(str(tmp_path / "missing"), device="cpu")
