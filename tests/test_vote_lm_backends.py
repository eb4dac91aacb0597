"""The LM-likelihood voter: the log-softmax at chosen rows, option checks, and (slow) the real
SmolLM2-135M on both backends: same prompt ids and scores on 3 short pairs, llama.cpp's KV-cache
reuse giving the scores of a fresh context, and votes that prefer the fluent answer."""

from __future__ import annotations

import numpy as np
import pytest

from curate.errors import ConfigError, MissingDependency
from curate.schema import frame, make_pair
from curate.vote.lm_likelihood import LMLikelihoodVoter, _token_logprobs, default_model_dir

PAIRS = [  # (prompt, fluent answer, the same words scrambled): plain ASCII, so both tokenisers agree
    ("What is the capital of France?", "The capital of France is Paris.", "Paris France of is capital the."),
    ("Name a fruit that is yellow.", "A banana is a yellow fruit.", "Yellow a fruit banana is a."),
    ("How many days are in a week?", "There are seven days in a week.", "Week a in days seven are there."),
]


def test_token_logprobs_is_log_softmax_at_the_targets():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 7)).astype(np.float32) * 30  # large: a naive exp would overflow float32
    targets = np.array([0, 3, 6, 2])
    x = logits.astype(np.float64)
    ref = x[np.arange(4), targets] - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) - x.max(1)
    np.testing.assert_allclose(_token_logprobs(logits, targets), ref, rtol=1e-12)
    assert np.all(_token_logprobs(logits, targets) <= 0)


def test_llamacpp_needs_a_gguf_file(tmp_path):
    with pytest.raises(ConfigError, match="backend: transformers"):
        LMLikelihoodVoter(backend="llamacpp", model_dir=str(tmp_path), gguf_file=None).setup(None)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        LMLikelihoodVoter(backend="onnx")


def _model_or_skip():
    try:
        default_model_dir()
    except MissingDependency as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def voters():
    _model_or_skip()
    out = {be: LMLikelihoodVoter(backend=be, threads=1, max_prompt_tokens=64, max_response_tokens=32)
           for be in ("llamacpp", "transformers")}
    for v in out.values():
        v.setup(None)
    yield out
    for v in out.values():
        v.close()


def _args(pairs):
    return [[{"role": "user", "content": p}] for p, _, _ in pairs], [[c, r] for _, c, r in pairs]


@pytest.mark.slow
def test_both_backends_tokenise_and_score_alike(voters):
    lc, tf = voters["llamacpp"], voters["transformers"]
    prompts, responses = _args(PAIRS)
    for m, (c, _) in zip(prompts, responses):
        assert lc.prompt_ids(m) == tf.prompt_ids(m)
        assert lc.response_ids(c) == tf.response_ids(c)
    a, b = lc.mean_logprobs(prompts, responses), tf.mean_logprobs(prompts, responses)
    assert a.shape == b.shape == (3, 2) and np.all(a < 0)
    # Q4_1 weights as they are vs de-quantised fp32: close, not equal (measured: 0.01-0.06 nat on the
    # fluent answers, up to 0.27 on the scrambled ones at mean log p ~ -8)
    np.testing.assert_allclose(a, b, rtol=0.05, atol=0.1)
    np.testing.assert_allclose(a[:, 0] - a[:, 1], b[:, 0] - b[:, 1], rtol=0.1)


@pytest.mark.slow
def test_llamacpp_cache_reuse_gives_fresh_context_scores(voters):
    lc = voters["llamacpp"]
    prompts, responses = _args(PAIRS)
    together = lc.mean_logprobs(prompts, responses)  # shared system-turn prefix kept between prompts
    alone = []
    for m, rs in zip(prompts, responses):
        lc.scorer._truncate(0)  # an empty cache, as a fresh context has
        alone.append(lc.mean_logprobs([m], [rs[::-1]])[0][::-1])  # and the responses the other way round
    np.testing.assert_allclose(together, np.array(alone), atol=1e-3)


@pytest.mark.slow
def test_votes_prefer_the_fluent_answer(voters):
    v = voters["llamacpp"]
    votes = [x[-1] for x in v(frame([make_pair(p, c, r, "t") for p, c, r in PAIRS]))["votes"].to_list()]
    assert [x["p_chosen"] > 0.5 for x in votes] == [True] * 3
    assert all(x["margin"] > 0 and x["voter"] == "lm:smollm2" for x in votes)
    assert v.stats.counts["votes_added"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["llamacpp", "transformers"])
def test_an_empty_response_scores_nan(voters, backend):
    s = voters[backend].mean_logprobs([[{"role": "user", "content": "Hi"}]], [["", "Hello!"]])
    assert np.isnan(s[0, 0]) and s[0, 1] < 0


@pytest.mark.slow
def test_both_backends_give_the_same_next_token_logprobs(voters):
    # what lm_ab_judge reads: log p of given tokens after a whole sequence (one decode on llama.cpp)
    lc, tf = voters["llamacpp"], voters["transformers"]
    prompts, _ = _args(PAIRS)
    seqs = [lc.prompt_ids(m) for m in prompts]
    targets = [lc.scorer.tokenize(x, special=False)[0] for x in ("The", "Paris")]
    a, b = lc.scorer.next_logprobs(seqs, targets), tf.scorer.next_logprobs(seqs, targets)
    assert a.shape == b.shape == (3, 2) and np.all(a < 0)
    # one position, so the Q4_1 quantisation shows more than in a mean (measured: 0.02-0.41 nat); a wrong
    # row (another position's logits) is off by 6-15 nat
    np.testing.assert_allclose(a, b, atol=0.5)
    assert lc.scorer.next_logprobs(seqs[:1], targets)[0] == pytest.approx(a[0], abs=1e-9)  # fresh each time
