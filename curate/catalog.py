"""Imports every module that registers a step, format or backend.

This is the one list to extend when you add a module: modules keep heavy imports (torch, faiss,
vllm) inside functions, so importing them all here stays cheap.
"""

from __future__ import annotations

import importlib

MODULES = [
    "curate.io.formats.native",
    "curate.io.formats.hh",
    "curate.io.formats.trl",
    "curate.io.formats.ultrafeedback",
    "curate.io.formats.helpsteer2",
    "curate.io.formats.mapping",
    "curate.steps.basic",
    "curate.runner.local",
    "curate.runner.ray_engine",
    "curate.llm.fake",
    "curate.llm.openai",
    "curate.llm.llamacpp",
    "curate.llm.vllm",
    "curate.io.formats.prompts",
    "curate.synth.generate",
    "curate.synth.pairs",
    "curate.embed.fake",
    "curate.embed.sentence_transformers",
    "curate.embed.hashing",
    "curate.index.faiss_index",
    "curate.index.numpy_index",
    "curate.dedup.exact",
    "curate.dedup.semantic",
    "curate.dedup.decontam",
    "curate.annotate.sqlite_store",
    "curate.annotate.argilla_store",
    "curate.annotate.steps",
    "curate.vote.ensemble",
    "curate.vote.embed_bt",
    "curate.vote.bias",
    "curate.vote.lm_likelihood",
    "curate.vote.lm_judge",
    "curate.judge.pairwise",
    "curate.judge.rating",
    "curate.judge.rubrics",
    "curate.judge.rubric_judge",
    "curate.judge.stored",
    "curate.rm.score",
    "curate.export.step",
]

_loaded = False


def load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in MODULES:
        importlib.import_module(mod)
