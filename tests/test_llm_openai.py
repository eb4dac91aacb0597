"""The openai backend against a real HTTP server on 127.0.0.1 (curate.testing.llm_server), faults included."""

from __future__ import annotations

import pytest

from curate.errors import ConfigError
from curate.llm.base import ChatRequest, GenParams
from curate.llm.cache import CachedLLM
from curate.llm.config import LLMConfig, build_llm
from curate.llm.openai import OpenAILLM, retry_after_seconds
from curate.testing import FakeLLM
from curate.testing.llm_server import TestServer
from tests.helpers.llm import echo


def reqs(n: int) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"q{i}"}], GenParams(seed=i, max_tokens=8)) for i in range(n)]


def client(srv: TestServer, **kw) -> OpenAILLM:
    opts = dict(timeout_s=0.5, max_retries=3, concurrency=8, backoff_base_s=0.01, backoff_max_s=0.05)
    opts.update(kw)
    return OpenAILLM("fake-model", base_url=srv.base_url, **opts)


def test_happy_path_and_models_endpoint():
    import httpx

    with TestServer(FakeLLM(responses=echo)) as srv:
        out = client(srv).generate(reqs(10))
        assert [c.text for c in out] == [f"answer to q{i} #{i}" for i in range(10)]
        assert all(c.attempts == 1 for c in out) and srv.calls == 10
        assert httpx.get(srv.base_url + "/models").json()["data"][0]["id"] == "fake"


def test_thirty_percent_faults_run_completes_with_bounded_retries(tmp_path):
    with TestServer(FakeLLM(responses=echo), fail_rate=0.3, hang_s=1.0, seed=7) as srv:
        llm = CachedLLM(client(srv), tmp_path / "c.sqlite")
        out = llm.generate(reqs(60))
        assert len(out) == 60
        for i, c in enumerate(out):
            assert (c.ok and c.text == f"answer to q{i} #{i}") or (c.error and "gave up after 4 attempts" in c.error)
        assert srv.calls <= 60 * 4  # retries are bounded by max_retries
        assert srv.calls > 60  # faults happened and were retried
        assert {"500", "429", "garbage"} <= set(srv.outcomes)
        failed = [c for c in out if not c.ok]
        assert len(llm.cache.failures()) == len(failed)  # every failure recorded, none dropped silently
        assert llm.cache.count() == 60 - len(failed)


def test_persistent_failure_is_recorded_with_attempts(tmp_path):
    with TestServer(FakeLLM(responses=echo), fail_rate=1.0, faults=("500",)) as srv:
        llm = CachedLLM(client(srv, max_retries=2), tmp_path / "c.sqlite")
        out = llm.generate(reqs(4))
        assert all(not c.ok and "HTTP 500" in c.error for c in out)
        assert srv.calls == 4 * 3
        fails = llm.cache.failures()
        assert len(fails) == 4 and all(f["attempts"] == 3 and "HTTP 500" in f["error"] for f in fails)
        srv.fail_rate = 0.0
        again = llm.generate(reqs(4))  # a recorded failure is retried on the next run
        assert all(c.ok for c in again) and llm.cache.failures() == []


def test_retry_after_is_honoured():
    with TestServer(FakeLLM(responses=echo), fail_rate=1.0, faults=("429",), retry_after=0.2) as srv:
        llm = client(srv, max_retries=1, backoff_base_s=0.001)
        out = llm.generate(reqs(1))
        assert "HTTP 429" in out[0].error and srv.calls == 2
        assert llm.waits and llm.waits[0] >= 0.2  # the server's Retry-After, not the 1 ms backoff


def test_retry_after_parsing():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


def test_api_key_from_env_never_shown(monkeypatch):
    secret = "sk-test-very-secret"
    monkeypatch.setenv("CURATE_TEST_KEY", secret)
    with TestServer(FakeLLM(responses=echo), api_key=secret) as srv:
        cfg = LLMConfig(backend="openai", model="m", base_url=srv.base_url, api_key_env="CURATE_TEST_KEY",
                        cache=False, options={"backoff_base_s": 0.01})
        llm = build_llm(cfg)
        assert llm.generate(reqs(1))[0].ok
        assert secret not in repr(llm) and secret not in cfg.model_dump_json()
        wrong = client(srv, api_key="nope")
        out = wrong.generate(reqs(1))
        assert "HTTP 401" in out[0].error and secret not in out[0].error
        assert srv.outcomes["401"] == 1  # a 401 is not retried
    monkeypatch.delenv("CURATE_TEST_KEY")
    with pytest.raises(ConfigError, match="CURATE_TEST_KEY"):
        build_llm(cfg)


def test_connection_refused_is_a_recorded_failure():
    from curate.testing.llm_server import free_port

    llm = OpenAILLM("m", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=1, backoff_base_s=0.001)
    out = llm.generate(reqs(2))
    assert all("connection error" in c.error and c.attempts == 2 for c in out)
