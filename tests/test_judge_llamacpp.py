"""Every judge once against a real local model (SmolLM2-135M-Instruct through llama.cpp).

A 135M model's verdicts are mostly noise: these tests check that real replies flow through the
prompts, parsers, position swap and counters, not that the verdicts are right."""

import json

import pytest

from curate.context import RunContext
from curate.llm.config import LLMConfig, build_llm
from curate.schema import frame, make_pair

pytestmark = pytest.mark.slow

REAL = LLMConfig(backend="llamacpp", cache=False, options={"n_ctx": 2048})


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    try:
        from curate.llm.llamacpp import default_model_path

        default_model_path()
    except Exception as e:  # the models extra is not installed here
        pytest.skip(f"llamacpp model unavailable: {e}")
    c = RunContext.for_dir(tmp_path_factory.mktemp("real-judge"))
    build_llm(REAL, c)  # one loaded model shared by every step below
    yield c
    c.close()


@pytest.fixture(scope="module")
def pairs():
    # short pairs keep prompt evaluation cheap on a shared CPU (long HH prompts took minutes)
    return frame([make_pair("How do I boil an egg?", "Put it in boiling water for 8 minutes.", "Eggs are birds."),
                  make_pair("What is 2 + 2?", "4", "5")])


def test_pairwise_judge_real(ctx, pairs):
    from curate.judge.pairwise import PairwiseJudge

    step = PairwiseJudge(llm=REAL, max_tokens=32)
    step.setup(ctx)
    out = step(pairs)
    votes = [v[-1] for v in out["votes"].to_list()]
    assert len(votes) == 2 and all(v["kind"] == "llm_judge" for v in votes)
    for v in votes:
        raw = json.loads(v["raw"])
        assert raw["ab"] is not None and raw["ba"] is not None  # real text came back and is kept
        assert v["p_chosen"] is None or 0.2 <= v["p_chosen"] <= 0.8
    c = step.stats.counts
    assert c["orders_judged"] == 4 and sum(v for k, v in c.items() if k.startswith("outcome:")) == 2


def test_rubrics_and_rubric_judge_real(ctx, pairs):
    from curate.judge.rubric_judge import RubricJudge
    from curate.judge.rubrics import ExtractRubrics

    ext = ExtractRubrics(llm=REAL, embedder={"backend": "fake", "cache": False}, max_tokens=96, max_criteria=2)
    ext.setup(ctx)
    with_rubric = ext(pairs)
    assert ext.stats.counts["prompts"] == 2
    for r in (json.loads(x) for x in with_rubric["rubric"]):
        assert r["criteria"] or ("raw" in r and "error" in r)
    judge = RubricJudge(llm=REAL, max_tokens=32)
    judge.setup(ctx)
    out = judge(with_rubric)
    c = judge.stats.counts
    judged = c["orders_judged"] // 2
    assert judged + c["skipped:no_rubric"] == 2 and out["votes"].list.len().to_list() == [1, 1]


def test_rating_judge_real(ctx, pairs):
    from curate.judge.rating import RateResponses
    from curate.schema import make_candidate

    r = pairs.row(0, named=True)
    cands = frame([make_candidate(r["prompt"], [{"text": r["chosen"]}, {"text": r["rejected"]}])], kind="candidate")
    step = RateResponses(llm=REAL, aspects=["helpfulness", "honesty"], max_tokens=40)
    step.setup(ctx)
    out = step(cands)
    assert step.stats.counts["responses_rated"] == 2
    for r in (r for rs in out["responses"].to_list() for r in rs):
        prov = json.loads(r["provenance"])
        assert (r["score"] is not None and 1 <= r["score"] <= 5 and prov["ratings"]) or prov["rating_error"]
