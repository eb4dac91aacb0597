"""A Hugging Face sequence-classification reward model: conversations in, one scalar reward each.

Any ``AutoModelForSequenceClassification`` with one output works (the Skywork-Reward-V2 family,
any local folder). Conversations go through the tokenizer's chat template; a tokenizer without one
(BERT-style RMs) gets the plain ``Role: text`` rendering instead. Batches are formed from texts of
similar length, so padding stays small, and the results come back in input order. Padding never
changes a score: the model reads the last non-pad token (decoder RMs) or uses the attention mask.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.errors import BackendError, require
from curate.schema import render_prompt


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class RewardModel:
    def __init__(self, model: str, device: str = "auto", dtype: str = "auto", max_length: int = 4096,
                 batch_size: int = 8, trust_remote_code: bool = False):
        torch = require("torch", "models", "the reward-model scorer")
        tf = require("transformers", "models", "the reward-model scorer")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.name, self.max_length, self.batch_size = model, max_length, batch_size
        self.device = pick_device(device)
        # bf16 halves memory and is what RMs are trained in; CPUs run float32 (bf16 matmuls are slow there)
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        self.dtype = dtype
        try:
            self.tok = tf.AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
            self.model = tf.AutoModelForSequenceClassification.from_pretrained(
                model, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code)
        except Exception as e:  # loaders raise many types; all mean "this model is not usable"
            raise BackendError(
                f"cannot load reward model '{model}': {e}. Give a local folder with config.json and "
                f"tokenizer files, or a Hub id that is already in the cache (HF_HUB_OFFLINE=1 blocks downloads)."
            ) from e
        if self.model.config.num_labels != 1:
            raise BackendError(f"reward model '{model}' has {self.model.config.num_labels} outputs; "
                               f"an RM scorer needs a sequence-classification head with num_labels=1")
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token or self.tok.unk_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tok.pad_token_id
        self.model.to(self.device).eval()
        self.has_chat_template = bool(getattr(self.tok, "chat_template", None))

    def encode(self, conversation: Sequence[dict]) -> tuple[list[int], bool]:
        """Token ids of one conversation and whether it had to be cut to max_length."""
        if self.has_chat_template:
            text = self.tok.apply_chat_template(list(conversation), tokenize=False)
            ids = self.tok(text, add_special_tokens=False)["input_ids"]
        else:
            ids = self.tok(render_prompt(conversation))["input_ids"]
        if len(ids) <= self.max_length:
            return ids, False
        # keep the end: the final response is what is being scored
        return ids[-self.max_length:], True

    def score(self, conversations: Sequence[Sequence[dict]]) -> tuple[np.ndarray, int]:
        """(rewards in input order, number of conversations truncated)."""
        import torch

        encoded = [self.encode(c) for c in conversations]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]), reverse=True)
        rewards = np.zeros(len(encoded), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self.tok.pad({"input_ids": [encoded[i][0] for i in idx]}, return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                logits = self.model(**batch).logits
                rewards[idx] = logits[:, 0].float().cpu().numpy()
        return rewards, sum(cut for _, cut in encoded)

    def describe(self) -> dict[str, Any]:
        return {"model": self.name, "device": self.device, "dtype": self.dtype,
                "chat_template": self.has_chat_template}

    def close(self) -> None:
        self.model = None
