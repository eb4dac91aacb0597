"""Typed backend options: every LLM, embedder, index and store backend declares an ``Options`` model,
and a typo in any backend option is a ConfigError naming the backend, the key and the allowed keys."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from pydantic import ValidationError

from curate.annotate.store import StoreConfig, open_store
from curate.config import load_pipeline, parse_pipeline
from curate.embed.config import EmbedConfig
from curate.errors import ConfigError
from curate.index.base import build_index
from curate.llm.config import LLMConfig
from curate.registry import EMBEDDERS, INDEXES, LLMS, STORES, build, options_for

REGISTRIES = [LLMS, EMBEDDERS, INDEXES, STORES]
BACKENDS = [(r, name) for r in REGISTRIES for name in r.names()]
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("registry,name", BACKENDS, ids=[f"{r.what}:{n}" for r, n in BACKENDS])
def test_every_backend_declares_strict_options_matching_its_constructor(registry, name):
    cls = registry.get(name)
    model = cls.Options
    assert model.model_config.get("extra") == "forbid"
    params = inspect.signature(cls.__init__).parameters
    takes_rest = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for field, info in model.model_fields.items():
        if field in params:
            # the same default whether the backend is built from a config or called from Python
            assert params[field].default == info.default, f"{name}.{field}"
        else:
            assert takes_rest, f"{name}: option {field!r} is not a constructor argument"


def test_unknown_option_names_backend_key_and_allowed_keys():
    with pytest.raises(ConfigError) as e:
        options_for(INDEXES, "faiss", {"nprob": 4}, where="steps.3.index")
    msg = str(e.value)
    assert msg.startswith("steps.3.index: vector index 'faiss': unknown option 'nprob' (did you mean 'nprobe'?)")
    assert "Allowed options: kind, ivf_threshold, nlist, nprobe, pq_m, refine" in msg


def test_bad_value_says_which_option_and_what_was_given():
    with pytest.raises(ConfigError, match=r"option 'n_ctx': .*integer.*\(got 'big'\)"):
        options_for(LLMS, "llamacpp", {"n_ctx": "big"})


def test_backend_without_options_rejects_any():
    with pytest.raises(ConfigError, match=r"vector index 'numpy': unknown option 'nprobe'.*Allowed options: \(none\)"):
        build_index("numpy", 4, nprobe=3)


@pytest.mark.parametrize("make", [
    lambda: LLMConfig(backend="fake", options={"respones": ["A"]}),
    lambda: LLMConfig(backend="openai", model="m", options={"backof_base_s": 1}),
    lambda: LLMConfig(backend="vllm", model="m", options={"tensor_parallel": 2}),
    lambda: LLMConfig(backend="llamacpp", options={"nctx": 2}),
    lambda: EmbedConfig(backend="hashing", options={"dims": 64}),
    lambda: EmbedConfig(backend="sentence_transformers", options={"max_seq_len": 64}),
    lambda: StoreConfig(backend="sqlite", pth="a.db"),
    lambda: StoreConfig(backend="sqlite", workspace="w"),  # an argilla option is a typo for sqlite
    lambda: StoreConfig(backend="argilla", path="a.db"),
], ids=["fake", "openai", "vllm", "llamacpp", "hashing", "st", "sqlite-typo", "sqlite-argilla-key", "argilla"])
def test_a_typo_in_any_backend_config_is_an_error(make):
    with pytest.raises(ValidationError, match="unknown option"):
        make()


def test_typed_options_reach_the_backend():
    emb = build(EMBEDDERS, "hashing", {"dim": 64, "ngrams": 1}, model="hashing", batch_size=8)
    assert emb.dim == 64 and emb._v.ngram_range == (1, 1)
    idx = build_index("faiss", 8, kind="hnsw", ef_search=99)
    assert idx.target == "hnsw" and idx.ef_search == 99


def test_store_config_is_a_backend_name_plus_that_backends_options(tmp_path):
    flat = StoreConfig(backend="sqlite", path=str(tmp_path / "a.db"))
    nested = StoreConfig.model_validate({"backend": "sqlite", "options": {"path": str(tmp_path / "a.db")}})
    assert flat == nested and flat.options == {"path": str(tmp_path / "a.db")}
    assert StoreConfig().options == {}  # the store's own default (annotate.db)
    assert StoreConfig(backend="sqlite", path=None).options == {}  # null: the default
    with flat.open() as store:
        assert store.path == str(tmp_path / "a.db")
    with pytest.raises(ConfigError, match="annotation store 'sqlite': unknown option 'api_url'"):
        open_store("sqlite", api_url="http://x")


def test_pipeline_with_a_backend_option_typo_fails_at_load_with_its_line():
    text = ("input: {path: in.jsonl}\noutput: {dir: out}\nsteps:\n  - step: llm_judge\n"
            "    llm: {backend: fake, options: {respones: [A]}}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml:5: steps\.0\.llm: .*fake.*unknown option 'respones'"):
        parse_pipeline(text, "p.yaml")


@pytest.mark.parametrize("path", sorted((REPO / "pipelines").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_pipelines_stay_valid(path):
    assert load_pipeline(path).steps
