"""The position-swapped pairwise judge against the scripted fake backend, with a hand-worked case."""

import json

import pytest

from curate.judge.pairwise import PairwiseJudge
from curate.judge.swap import combine
from curate.llm.fake import FakeLLM
from curate.testing import make_pairs
from tests.helpers.judge import FAKE, ctx_with_llm, tag_script

# Hand-worked: confidence 0.3. "ab" shows (A=chosen, B=rejected), "ba" shows (A=rejected, B=chosen).
#   row ab        ba              chosen wins?   outcome         p_chosen
#   0   A         B               yes, yes       consistent      0.5 + 0.3        = 0.8
#   1   A         A               yes, no        flip            0.5
#   2   tie       A               half, no       tie_vs_win      0.5 - 0.3 / 2    = 0.35
#   3   garbage   [[B]]           ?, yes         one_order       0.5 + 0.3 / 2    = 0.65
#   4   error     garbage         ?, ?           no_verdict      None
#   5   B         A               no, no         consistent      0.5 - 0.3        = 0.2
#   6   tie       tie             half, half     consistent_tie  0.5
# Position consistency over rows judged in both orders (0, 1, 2, 5, 6) = 3 / 5 = 0.6.
SCRIPT = {
    "0:ab": '{"verdict": "A"}', "0:ba": '{"verdict": "B"}',
    "1:ab": "[[A]]", "1:ba": "Answer: A",
    "2:ab": '{"verdict": "tie"}', "2:ba": "Response A is better.",
    "3:ab": "I cannot tell", "3:ba": "[[B]]",
    "4:ab": TimeoutError("server down"), "4:ba": "",
    "5:ab": "B", "5:ba": "A",
    "6:ab": "[[C]]", "6:ba": '{"verdict": "equal"}',
}
EXPECTED = [0.8, 0.5, 0.35, 0.65, None, 0.2, 0.5]


def test_combine_table():
    assert [combine(a, b, 0.3).outcome for a, b in [("A", "B"), ("A", "A"), ("tie", "A"), (None, "B"),
                                                    (None, None), ("B", "A"), ("tie", "tie")]] == [
        "consistent", "position_flip", "tie_vs_win", "one_order", "no_verdict", "consistent", "consistent_tie"]


def test_hand_worked_swap(tmp_path):
    fake = FakeLLM(responses=tag_script(SCRIPT))
    step = PairwiseJudge(llm=FAKE, confidence=0.3)
    step.setup(ctx_with_llm(tmp_path, fake))
    out = step(make_pairs(7))

    votes = [v[-1] for v in out["votes"].to_list()]
    got = [v["p_chosen"] for v in votes]
    assert got[4] is None and EXPECTED[4] is None
    assert [g for i, g in enumerate(got) if i != 4] == pytest.approx([e for i, e in enumerate(EXPECTED) if i != 4])
    assert {v["voter"] for v in votes} == {"judge:scripted"} and {v["kind"] for v in votes} == {"llm_judge"}
    # one batched call with both orders of every pair, each order with the responses swapped
    assert len(fake.calls) == 14
    ab, ba = fake.calls[0].messages[-1]["content"], fake.calls[1].messages[-1]["content"]
    assert ab.index("good answer 0") < ab.index("bad answer 0") and ba.index("bad answer 0") < ba.index("good answer 0")
    assert fake.calls[0].params.response_format == "json"

    c = step.stats.counts
    assert c["outcome:consistent"] == 2 and c["outcome:position_flip"] == 1 and c["outcome:no_verdict"] == 1
    assert c["parse_fail:no_verdict"] == 1 and c["parse_fail:llm_error"] == 1 and c["parse_fail:empty"] == 1
    assert step.summary()["position_consistency"] == 0.6
    assert step.summary()["parse_failure_rate"] == round(3 / 14, 4)

    raw3 = json.loads(votes[3]["raw"])  # the unparsable reply is kept verbatim
    assert raw3["ab"] == "I cannot tell" and raw3["outcome"] == "one_order"
    raw4 = json.loads(votes[4]["raw"])
    assert "server down" in raw4["errors"][0] and raw4["ba"] == ""


def test_voter_name_template_file_and_truncation(tmp_path):
    tpl = tmp_path / "mine.j2"
    tpl.write_text("Q: {{ conversation }}\n1) {{ response_a }}\n2) {{ response_b }}\nSay A or B.")
    fake = FakeLLM(responses=["A", "B"])
    step = PairwiseJudge(llm=FAKE, template=str(tpl), voter="judge:custom", system=None, max_response_chars=100)
    step.setup(ctx_with_llm(tmp_path, fake))
    batch = make_pairs(1).with_columns(chosen=make_pairs(1)["chosen"] + "x" * 500)
    out = step(batch)
    vote = out["votes"].to_list()[0][-1]
    assert vote["voter"] == "judge:custom" and vote["p_chosen"] == pytest.approx(0.8)
    assert fake.calls[0].messages[0]["content"].startswith("Q: User: q 0")
    assert "[...truncated]" in fake.calls[0].messages[0]["content"]
    assert step.stats.counts["truncated_responses"] == 1  # chosen only


def test_template_errors_say_what_to_do(tmp_path):
    from curate.errors import ConfigError

    with pytest.raises(ConfigError, match="not found"):
        PairwiseJudge(llm=FAKE, template="nope.j2").setup(ctx_with_llm(tmp_path, FakeLLM()))
    bad = tmp_path / "bad.j2"
    bad.write_text("{{ conversaton }}")
    step = PairwiseJudge(llm=FAKE, template=str(bad))
    step.setup(ctx_with_llm(tmp_path, FakeLLM()))
    with pytest.raises(ConfigError, match="conversaton"):
        step(make_pairs(1))


def test_unknown_option_rejected():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        PairwiseJudge(llm=FAKE, confidnce=0.2)
