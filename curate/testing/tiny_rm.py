"""A randomly initialised Llama reward model with a word-level tokenizer, built locally: for tests
and benchmarks of the RM scorer without downloading anything. Its rewards are deterministic
(fixed seed) and meaningless."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

CHAT_TEMPLATE = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} <end> {% endfor %}"
ROLE_TOKENS = "<user> <assistant> <system> <tool> <end>"


def build_tiny_rm(path: str | Path, corpus: Iterable[str], hidden: int = 32, layers: int = 2,
                  vocab_size: int = 5000, seed: int = 0) -> str:
    """Write tokenizer + LlamaForSequenceClassification (num_labels=1) to `path`; returns the path."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[EOS]"])
    tok.train_from_iterator([ROLE_TOKENS, *corpus], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=fast.vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=8192, num_labels=1, pad_token_id=fast.pad_token_id)
    LlamaForSequenceClassification(cfg).save_pretrained(path)
    return str(path)
