"""Rubric extraction, merging of near-duplicate criteria, the rubric-grounded judge, and the
multi-aspect rating judge, all against scripted fake LLMs (and the fake embedder)."""

import json

import pytest

from curate.judge.rating import RateResponses
from curate.judge.rubric_judge import RubricJudge
from curate.judge.rubrics import ExtractRubrics
from curate.llm.fake import FakeLLM
from curate.schema import frame, make_candidate, make_pair
from tests.helpers.judge import FAKE, ctx_with_llm, tag_script

RUBRICS = {
    "thing 0": '{"task_category": "howto", "must": ["Gives a correct answer"], '
               '"penalize": ["Refuses to help with violence"]}',
    "thing 1": '```json\n{"category": "howto", "must": ["Gives a correct, complete answer", '
               '"Explains the steps clearly"], "penalize": []}\n```',
    "thing 2": "I am not sure what you want.",  # malformed: kept raw, counted
}


def rubric_llm():
    return FakeLLM(responses=lambda req: next(v for k, v in RUBRICS.items() if k in req.messages[-1]["content"]))


def pairs():
    rows = [make_pair(f"how do I do thing {i}?", f"good answer {j}", f"bad answer {j}") for j, i in
            enumerate([0, 1, 2, 0])]
    return frame(rows)


@pytest.fixture()
def extracted(tmp_path):
    fake = rubric_llm()
    step = ExtractRubrics(llm=FAKE, embedder={"backend": "fake", "cache": False}, merge_threshold=0.8)
    step.setup(ctx_with_llm(tmp_path, fake))
    return step, step(pairs()), fake, tmp_path


def test_extract_and_merge(extracted):
    step, out, fake, tmp_path = extracted
    assert len(fake.calls) == 3  # one call per distinct prompt, rows 0 and 3 share one
    r = [json.loads(x) for x in out["rubric"]]
    assert r[0] == r[3]
    by_text = {c["text"]: c["id"] for x in r for c in x["criteria"]}
    # "complete answer" is a near-duplicate of "correct answer" (cosine 0.85 >= 0.8) and joins its rubric
    assert by_text["Gives a correct, complete answer"] == by_text["Gives a correct answer"]
    assert len(set(by_text.values())) == 3 and len(step.rubric_set) == 3
    assert r[0]["task_category"] == "howto" and {c["kind"] for c in r[0]["criteria"]} == {"must", "penalize"}
    assert r[2]["criteria"] == [] and r[2]["error"] == "no_criteria" and r[2]["raw"] == RUBRICS["thing 2"]
    assert step.stats.counts["parse_fail:no_criteria"] == 1 and step.stats.counts["prompts"] == 3
    assert step.summary()["rubric_set_size"] == 3


def test_rubric_state_round_trip(extracted):
    step, out, fake, tmp_path = extracted
    state = tmp_path / "state"
    state.mkdir()
    step.save_state(state)
    saved = json.loads((tmp_path / "run" / "rubrics.json").read_text())
    assert saved["size"] == 3 and saved["rubrics"][0]["variants"] == ["Gives a correct, complete answer"]
    again = ExtractRubrics(llm=FAKE, embedder={"backend": "fake", "cache": False}, merge_threshold=0.8)
    again.load_state(state)
    again.setup(ctx_with_llm(tmp_path / "b", rubric_llm()))
    out2 = again(pairs())
    assert out2["rubric"].to_list() == out["rubric"].to_list()  # the same ids after a resume
    assert len(again.rubric_set) == 3


def test_rubric_judge(extracted):
    _, out, _, tmp_path = extracted
    script = {f"{i}:ab": '{"verdict": "A"}' for i in range(4)} | {f"{i}:ba": '{"verdict": "B"}' for i in range(4)}
    fake = FakeLLM(responses=tag_script(script))
    judge = RubricJudge(llm=FAKE)
    judge.setup(ctx_with_llm(tmp_path / "j", fake))
    res = judge(out)
    votes = [v[-1] for v in res["votes"].to_list()]
    assert [v["p_chosen"] for v in votes] == [0.8, 0.8, None, 0.8]
    assert votes[0]["kind"] == "rubric_judge" and votes[0]["voter"] == "rubric_judge:scripted"
    assert json.loads(votes[2]["raw"]) == {"skipped": "no_rubric"}
    assert judge.stats.counts["skipped:no_rubric"] == 1 and len(fake.calls) == 6
    prompt = fake.calls[0].messages[-1]["content"]
    assert "- Gives a correct answer" in prompt and "- Refuses to help with violence" in prompt
    assert judge.summary()["position_consistency"] == 1.0


def test_rubric_judge_needs_rubric_column(tmp_path):
    from curate.errors import SchemaError

    judge = RubricJudge(llm=FAKE)
    judge.setup(ctx_with_llm(tmp_path, FakeLLM()))
    with pytest.raises(SchemaError, match="extract_rubrics"):
        judge(pairs())


def test_rating_judge(tmp_path):
    cands = frame([make_candidate("q 0", [{"text": "r0", "score": 7.0}, {"text": "r1"}]),
                   make_candidate("q 1", [{"text": "r2"}])], kind="candidate")
    replies = {"r0": '{"helpfulness": 4, "honesty": 5}', "r1": "Helpfulness: 2, honesty: 3", "r2": "lovely"}
    fake = FakeLLM(responses=lambda req: next(v for k, v in replies.items() if f"[Response]\n{k}" in
                                              req.messages[-1]["content"]))
    step = RateResponses(llm=FAKE, aspects=["helpfulness", "honesty"])
    step.setup(ctx_with_llm(tmp_path, fake))
    out = step(cands)
    rs = out["responses"].to_list()
    assert [r["score"] for r in rs[0]] == [4.5, 2.5] and rs[1][0]["score"] is None
    p0, p2 = json.loads(rs[0][0]["provenance"]), json.loads(rs[1][0]["provenance"])
    assert p0["ratings"] == {"helpfulness": 4, "honesty": 5} and p0["previous_score"] == 7.0
    assert p2["rating_raw"] == "lovely" and p2["rating_error"] == "no_ratings"
    assert step.stats.counts["parse_fail:no_ratings"] == 1 and step.summary()["parse_failure_rate"] == 0.3333
    assert out.schema == cands.schema
    assert "honesty: does it express uncertainty" in fake.calls[0].messages[-1]["content"]


def test_rating_judge_custom_aspect_needs_description(tmp_path):
    from curate.errors import ConfigError

    with pytest.raises(ConfigError, match="descriptions"):
        RateResponses(llm=FAKE, aspects=["brevity"]).setup(ctx_with_llm(tmp_path, FakeLLM()))
    step = RateResponses(llm=FAKE, aspects=["brevity"], descriptions={"brevity": "short"}, scale=10)
    step.setup(ctx_with_llm(tmp_path, FakeLLM(responses=['{"brevity": 9}'])))
    out = step(frame([make_candidate("q", [{"text": "x"}])], kind="candidate"))
    assert out["responses"].to_list()[0][0]["score"] == 9.0


def test_steps_run_from_yaml(tmp_path):
    """Usable from a pipeline file: the fake backend's default reply parses as nothing, and the run
    still finishes, counts every failure and writes rubrics.json beside the data."""
    from curate import Pipeline
    from curate.config import parse_pipeline
    from curate.io.writers import read_records

    src = tmp_path / "in.jsonl"
    pairs().drop("votes").write_ndjson(src)
    yaml_text = f"""
input: {{path: {src}}}
steps:
  - step: extract_rubrics
    llm: {{backend: fake}}
    embedder: {{backend: fake}}
  - step: rubric_judge
    llm: {{backend: fake}}
  - step: llm_judge
    llm: {{backend: fake}}
    voter: judge:fake
output: {{dir: {tmp_path / 'run'}}}
"""
    cfg, _ = parse_pipeline(yaml_text)
    stats = Pipeline.from_config(cfg).run()
    out = read_records(tmp_path / "run" / "data")
    assert out.height == 4 and (tmp_path / "run" / "rubrics.json").exists()
    kinds = [[v["kind"] for v in vs] for vs in out["votes"].to_list()]
    assert kinds == [["rubric_judge", "llm_judge"]] * 4
    judge = next(s for s in stats["steps"] if s["step"] == "llm_judge")
    assert judge["counts"]["parse_fail:no_verdict"] == 8 and judge["figures"]["position_consistency"] is None
