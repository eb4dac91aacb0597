"""A small local LM as a pairwise judge read from its next-token log-probs (no text is generated).

The pair is shown as "Response A / Response B" in the model's chat format, and the vote is read from
the log-probs of the tokens ``A`` and ``B`` as the model's reply would begin. Both orders are scored
(position swap), so a model that always prefers the first slot casts no vote either way:

    d_ab = log p(A) − log p(B)   with A = chosen,   B = rejected
    d_ba = log p(A) − log p(B)   with A = rejected, B = chosen
    margin = scale · (d_ab − d_ba) / 2,   p_chosen = σ(margin)

With ``scale`` 1 this is the model's own odds of "chosen" averaged over the orders in log space. A
pair counts as ``outcome:consistent`` when both orders lean to the same response and
``outcome:position_flip`` when the lean follows the slot (``position_consistency`` in the figures,
as for ``llm_judge``). The curate judges' text path (``llm_judge``) needs a verdict in JSON, which
models of this size rarely write; log-probs need no parsing, so every pair gets a vote.

It reuses the LM-likelihood voter's model resolution, chat template, BOS handling and backends
(``curate/vote/lm_likelihood.py``); each of the two sequences is evaluated whole (see
``LlamaCppScorer.next_logprobs`` on why the shared head is not reused). The instruction keeps its
last ``max_prompt_tokens`` tokens and each response its first ``max_response_tokens``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.errors import ConfigError
from curate.judge.swap import swap_figures
from curate.registry import STEPS
from curate.schema import VoteKind, add_votes, dumps, render_prompt
from curate.vote.lm_likelihood import LMLikelihoodVoter, LMOptions, render_chat
from curate.vote.lm_models import MODELS
from curate.vote.matrix import sigmoid

# private-use characters mark where the instruction and the responses go in the rendered chat text,
# so each part is tokenised (and truncated) on its own and the template's special tokens stay intact
_SLOTS = ("\ue000", "\ue001", "\ue002")
QUESTION = ("Which response follows the instruction better? Judge helpfulness, accuracy and whether it "
            "does what was asked.\n\n# Instruction:\n{instruction}\n\n# Response A:\n{a}\n\n# Response B:\n{b}"
            "\n\nAnswer with one letter: A or B.")
JUDGE_OVERHEAD_TOKENS = 128  # the question and the chat template around the three slots


class LMJudgeOptions(LMOptions):
    scale: float = Field(1.0, gt=0, description="margin = scale x (d_ab - d_ba) / 2, d = log p(A) - log p(B)")
    question: str = Field(QUESTION, description="the judge's text, with {instruction}, {a} and {b}")
    voter: str = Field("lm_judge:smollm2", description="voter name")

    @model_validator(mode="after")
    def _judge_defaults(self) -> LMJudgeOptions:
        if "voter" not in self.model_fields_set:  # LMOptions set it to the likelihood voter's name
            object.__setattr__(self, "voter", MODELS[self.model].voter.replace("lm:", "lm_judge:", 1))
        for slot in ("{instruction}", "{a}", "{b}"):
            if self.question.count(slot) != 1:
                raise ValueError(f"question must hold {slot} exactly once")
        return self


@STEPS.register()
class LMABJudge(LMLikelihoodVoter):
    """Judge each pair by a small LM's next-token log-probs of "A" vs "B", in both orders.

    Reads: prompt, chosen, rejected. Writes: one vote per row to ``votes`` (kind ``llm_judge``,
    family: the model's, shared with its likelihood voter; raw = {d_ab, d_ba}). Counts
    ``votes_added``, ``orders_judged``, ``outcome:consistent`` / ``outcome:position_flip``,
    ``tokens_scored``.
    """

    name = "lm_ab_judge"
    Options = LMJudgeOptions

    def context_tokens(self) -> int:
        o = self.options
        return o.max_prompt_tokens + 2 * o.max_response_tokens + JUDGE_OVERHEAD_TOKENS

    def answer_ids(self) -> list[int]:
        ids = [self.scorer.tokenize(x, special=False) for x in ("A", "B")]
        if any(len(t) != 1 for t in ids):
            raise ConfigError(f"step {self.label}: the model's tokenizer splits 'A' or 'B' into several "
                              "tokens; use another model")
        return [t[0] for t in ids]

    def judge_ids(self, messages: list[dict], a: str, b: str) -> list[int]:
        """The chat-formatted judge question (generation prompt included) as token ids."""
        self.setup(None)
        text = self.options.question.format(instruction=_SLOTS[0], a=_SLOTS[1], b=_SLOTS[2])
        rendered = render_chat(self.scorer.template, [{"role": "user", "content": text}])
        pre, rest = rendered.split(_SLOTS[0])
        m1, rest = rest.split(_SLOTS[1])
        m2, post = rest.split(_SLOTS[2])
        tok = self.scorer.tokenize
        instruction = tok(render_prompt(messages), False)[-self.options.max_prompt_tokens:]
        ids = (tok(pre, True) + instruction + tok(m1, True) + self.response_ids(a) + tok(m2, True)
               + self.response_ids(b) + tok(post, True))
        bos = self.scorer.bos
        if bos is not None and ids[:1] != [bos]:
            ids = [bos] + ids
        return ids

    def ab_differences(self, prompts: list[list[dict]], chosen: list[str], rejected: list[str]) -> np.ndarray:
        """Rows = pairs, columns = (d_ab, d_ba): log p(A) − log p(B) with chosen first, then second."""
        self.setup(None)
        seqs = []
        for m, c, r in zip(prompts, chosen, rejected):
            seqs += [self.judge_ids(m, c, r), self.judge_ids(m, r, c)]
        self.stats.count("tokens_scored", sum(map(len, seqs)))
        self.stats.count("orders_judged", len(seqs))
        lp = self.scorer.next_logprobs(seqs, self.answer_ids()) if seqs else np.zeros((0, 2))
        return (lp[:, 0] - lp[:, 1]).reshape(-1, 2)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        d = self.ab_differences(batch["prompt"].to_list(), batch["chosen"].to_list(), batch["rejected"].to_list())
        margin = self.options.scale * (d[:, 0] - d[:, 1]) / 2
        consistent = np.sign(d[:, 0]) == -np.sign(d[:, 1])
        self.stats.count("outcome:consistent", int(consistent.sum()))
        self.stats.count("outcome:position_flip", int((~consistent).sum()))
        self.stats.count("votes_added", len(d))
        raw = [dumps({"d_ab": round(float(x), 4), "d_ba": round(float(y), 4)}) for x, y in d]
        return add_votes(batch, self.options.voter, VoteKind.LLM_JUDGE, [float(x) for x in sigmoid(margin)],
                         [float(x) for x in margin], raw, family=self.options.family)

    def summary(self) -> dict:
        return swap_figures(self.stats.counts, self.options.voter)
