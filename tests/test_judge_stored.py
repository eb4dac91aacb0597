"""stored_judge: stored judge replies per order → votes, on real LLMBar rows whose verdicts were read
by hand, plus the file layouts, keys and failure counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest

from curate.errors import ConfigError, InputError
from curate.judge.parse import parse_verdict
from curate.judge.stored import StoredJudge
from curate.pipeline import Pipeline
from curate.schema import frame, make_pair

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _gold as g  # noqa: E402

DATA = g.shared_data()


@pytest.fixture(scope="module")
def gold():
    if not (DATA / "llmbar").is_dir():
        pytest.skip(f"LLMBar not found at {DATA / 'llmbar'} (set {g.ENV_DATA})")
    rows = g.load_llmbar(DATA)
    return rows, g.pair_frame(g.llmbar_pairs(rows))


def _votes(gold, judge, method, tmp_path):
    _, base = gold
    outs = g.judge_outputs(DATA, judge, method)
    path = g.write_jsonl([{"id": i, "ab": o["ab"], "ba": o["ba"]} for i, o in zip(base["id"], outs)],
                         tmp_path / f"{judge}-{method}.jsonl")
    step = StoredJudge(path=str(path), voter=f"{judge}:{method}", family=judge)
    out = step(base)
    return step, [v[-1] for v in out["votes"].to_list()]


def _at(rows, subset, index):
    return next(k for k, r in enumerate(rows) if r["subset"] == subset and r["index"] == index)


# (judge, method, subset, index in subset, verdict ab, verdict ba, outcome, p_chosen); each read by hand:
HAND_CHECKED = [
    # label 1; replies are just "Output (a)" (chosen first) and "Output (b)" (chosen second): clear win
    ("GPT-4", "Vanilla", "Natural", 0, "A", "B", "consistent", 0.8),
    # label 2; "Output (a) is better. Output (a) is more concise ... Output (b) is more verbose" with chosen
    # first, "Output (b) is better. Output (a) is too short" with chosen second: "more" is not a verdict
    ("PaLM2", "CoT", "Natural", 4, "A", "B", "consistent", 0.8),
    # label 1; "Output (b) is better ... Therefore, Output (b) is better." / "... Therefore, Output (a) is
    # better.": the judge prefers the rejected output in both orders
    ("PaLM2", "CoT", "Natural", 13, "B", "A", "consistent", 0.2),
    # label 1; "Output (a) is better." in both orders: the verdict follows the position
    ("PaLM2", "CoT", "Natural", 14, "A", "A", "position_flip", 0.5),
    # label 1; a refusal ("I cannot provide a response to this question ...") with chosen first: no
    # verdict; "Output (a)" = the rejected one with chosen second
    ("LLaMA2", "Vanilla", "Adversarial/GPTInst", 82, None, "A", "one_order", 0.35),
    # label 2; cut off mid-sentence ("... the fact that Output (a) precisely executes the"): no verdict;
    # "Therefore, based on the evaluation, Output (a) is better" = the rejected one
    ("ChatGPT", "CoT", "Adversarial/Neighbor", 47, None, "A", "one_order", 0.35),
    # label 1; "Therefore, Output (a) is better." with chosen first; with chosen second: "Therefore, Output
    # (b) is not a valid regular expression ... Therefore, Output (a) is better.": follows the position
    ("ChatGPT", "CoT", "Adversarial/Neighbor", 15, "A", "A", "position_flip", 0.5),
]


@pytest.mark.parametrize("judge,method,subset,index,v_ab,v_ba,outcome,p", HAND_CHECKED)
def test_hand_checked_verdicts_on_llmbar(gold, tmp_path, judge, method, subset, index, v_ab, v_ba, outcome, p):
    _, votes = _votes(gold, judge, method, tmp_path)
    vote = votes[_at(gold[0], subset, index)]
    raw = json.loads(vote["raw"])
    assert raw["verdicts"] == [v_ab, v_ba]
    assert raw["outcome"] == outcome
    assert vote["p_chosen"] == pytest.approx(p)
    assert vote["voter"] == f"{judge}/{judge}:{method}" and vote["kind"] == "llm_judge"


def test_parse_failures_counted_by_reason_on_real_rows(gold, tmp_path):
    step, votes = _votes(gold, "LLaMA2", "Vanilla", tmp_path)
    c = step.stats.counts
    assert c["orders_judged"] == 2 * len(votes) == 838
    fails = {k: v for k, v in c.items() if k.startswith("parse_fail:")}
    assert fails.get("parse_fail:no_verdict", 0) >= 1  # the refusals
    s = step.summary()
    assert s["parse_failure_rate"] == pytest.approx(round(sum(fails.values()) / 838, 4))
    both = sum(c[f"outcome:{o}"] for o in ("consistent", "consistent_tie", "position_flip", "tie_vs_win"))
    assert s["position_consistency"] == pytest.approx(round((c["outcome:consistent"] + c["outcome:consistent_tie"])
                                                            / both, 4))


def _pairs(n=3):
    return frame([make_pair([{"role": "user", "content": f"q{i}"}], f"good {i}", f"bad {i}") for i in range(n)])


def test_position_key_missing_reply_and_unmatched_pair(tmp_path):
    path = tmp_path / "out.json"
    path.write_text(json.dumps([{"first": "[[A]]", "second": "[[B]]"}, {"first": None, "second": "[[A]]"}]))
    step = StoredJudge(path=str(path), voter="j", key="position", ab_column="first", ba_column="second")
    votes = [v[-1] for v in step(_pairs())["votes"].to_list()]
    assert [v["p_chosen"] for v in votes] == [pytest.approx(0.8), pytest.approx(0.35), None]
    assert step.stats.counts["parse_fail:missing"] == 1 and step.stats.counts["unmatched"] == 1
    state = tmp_path / "state"
    state.mkdir()
    step.save_state(state)
    again = StoredJudge(path=str(path), voter="j", key="position", ab_column="first", ba_column="second")
    again.load_state(state)
    assert again.seen == 3


def test_errors_name_the_fix(tmp_path):
    with pytest.raises(InputError, match="path"):
        StoredJudge(path=str(tmp_path / "nope.jsonl"), voter="j")(_pairs())
    bad = g.write_jsonl([{"id": "x", "reply": "[[A]]"}], tmp_path / "bad.jsonl")
    with pytest.raises(ConfigError, match="ab_column"):
        StoredJudge(path=str(bad), voter="j")(_pairs())


def test_in_a_pipeline_keyed_by_id(tmp_path):
    pairs = _pairs()
    src = g.write_jsonl([{"prompt": r["prompt"][0]["content"], "chosen": r["chosen"], "rejected": r["rejected"]}
                         for r in pairs.to_dicts()], tmp_path / "pairs.jsonl")
    ids = pairs["id"].to_list()
    outs = g.write_jsonl([{"id": ids[2], "ab": "Output (b) is better.", "ba": "Verdict: A"},
                          {"id": ids[0], "ab": "Output (a)", "ba": "Output (b)"}], tmp_path / "j.jsonl")
    pipe = Pipeline({"path": str(src), "format": "mapping",
                     "columns": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}},
                    [StoredJudge(path=str(outs), voter="judge:x")], {"dir": str(tmp_path / "run")})
    pipe.run(overwrite=True)
    df = pl.read_parquet(next((tmp_path / "run" / "data").glob("*.parquet")))
    p = dict(zip(df["id"], [v[-1]["p_chosen"] for v in df["votes"].to_list()]))
    assert p[ids[0]] == pytest.approx(0.8) and p[ids[2]] == pytest.approx(0.2) and p[ids[1]] is None


@pytest.mark.parametrize("text,verdict", [
    ("Output (a)", "A"),
    ("Output (b) is better.", "B"),
    ("Output (a) is more detailed than Output (b). Therefore, Output (b) is better.", "B"),
    ("Therefore, based on the evaluation, Output (a) is better as it follows the instruction.", "A"),
    ("Output (a) is better. Output (a) is concise, while Output (b) is more verbose.", "A"),
])
def test_parser_reads_parenthesised_letters(text, verdict):
    assert parse_verdict(text) == (verdict, None)


def test_lowercase_letters_outside_parentheses_stay_prose():
    assert parse_verdict("I would prefer a response that is shorter.") == (None, "no_verdict")


def test_votes_carry_the_judge_family(tmp_path):
    # ensembles pool a family into one witness; without the family field every method counted alone
    base = frame([make_pair("q", "good", "bad")])
    path = tmp_path / "replies.jsonl"
    path.write_text(json.dumps({"id": base["id"][0], "ab": "Output (a)", "ba": "Output (b)"}) + "\n")
    vote = StoredJudge(path=str(path), voter="GPT-4:Vanilla", family="GPT-4")(base)["votes"][0][-1]
    assert (vote["voter"], vote["family"]) == ("GPT-4/GPT-4:Vanilla", "GPT-4")
