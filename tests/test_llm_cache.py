"""The request cache: finished calls are never repeated, failures are recorded and retried."""

from __future__ import annotations

import pytest

from curate.llm.base import ChatRequest, GenParams
from curate.llm.cache import CachedLLM, RequestCache
from curate.testing import FakeLLM
from tests.helpers.llm import echo


def reqs(n: int, seed: int = 0) -> list[ChatRequest]:
    return [ChatRequest([{"role": "user", "content": f"q{i}"}], GenParams(seed=seed)) for i in range(n)]


def test_rerun_hits_the_cache_and_never_calls_again(tmp_path):
    fake = FakeLLM(responses=echo)
    llm = CachedLLM(fake, tmp_path / "c.sqlite")
    first = llm.generate(reqs(5))
    assert [c.text for c in first] == [f"answer to q{i} #0" for i in range(5)]
    assert not any(c.cached for c in first)
    again = CachedLLM(fake, tmp_path / "c.sqlite").generate(reqs(5))  # a new process would do this
    assert [c.text for c in again] == [c.text for c in first]
    assert all(c.cached for c in again)
    assert len(fake.calls) == 5


def test_key_covers_params_and_model_not_tag(tmp_path):
    fake = FakeLLM(responses=echo)
    llm = CachedLLM(fake, tmp_path / "c.sqlite")
    llm.generate(reqs(2))
    llm.generate(reqs(2, seed=1))  # other params: new calls
    tagged = [ChatRequest(r.messages, r.params, tag="x") for r in reqs(2)]
    llm.generate(tagged)  # a tag is not part of the content: cached
    CachedLLM(FakeLLM(model="other", responses=echo), tmp_path / "c.sqlite").generate(reqs(2))
    assert len(fake.calls) == 4


def test_duplicates_in_one_batch_are_called_once(tmp_path):
    fake = FakeLLM(responses=echo)
    out = CachedLLM(fake, tmp_path / "c.sqlite").generate(reqs(2) + reqs(2))
    assert len(fake.calls) == 2 and [c.text for c in out[2:]] == [c.text for c in out[:2]]


def test_failures_are_recorded_and_retried_next_run(tmp_path):
    state = {"fail": True}
    fake = FakeLLM(responses=lambda r: RuntimeError("server down")
                   if state["fail"] and r.messages[-1]["content"] == "q1" else echo(r))
    llm = CachedLLM(fake, tmp_path / "c.sqlite")
    out = llm.generate(reqs(3))
    assert out[1].error == "RuntimeError: server down" and out[0].ok and out[2].ok
    fails = llm.cache.failures()
    assert len(fails) == 1 and fails[0]["error"] == "RuntimeError: server down" and fails[0]["attempts"] == 1
    assert llm.counts["failures"] == 1
    state["fail"] = False
    again = llm.generate(reqs(3))
    assert all(c.ok for c in again) and [c.cached for c in again] == [True, False, True]
    assert llm.cache.failures() == [] and len(fake.calls) == 4
    attempts = llm.cache.db.execute("SELECT attempts FROM calls WHERE text LIKE '%q1 %'").fetchone()[0]
    assert attempts == 2  # the failed attempt and the successful one


def test_interrupt_keeps_every_finished_response(tmp_path):
    def reply(r):
        if r.messages[-1]["content"] == "q3":
            raise KeyboardInterrupt
        return echo(r)

    fake = FakeLLM(responses=reply)
    with pytest.raises(KeyboardInterrupt):
        CachedLLM(fake, tmp_path / "c.sqlite").generate(reqs(6))
    assert RequestCache(tmp_path / "c.sqlite").count() == 3  # q0..q2 finished before Ctrl-C
    fake2 = FakeLLM(responses=echo)
    out = CachedLLM(fake2, tmp_path / "c.sqlite").generate(reqs(6))
    assert [c.cached for c in out] == [True] * 3 + [False] * 3 and len(fake2.calls) == 3


def test_two_connections_share_one_file(tmp_path):
    a, b = RequestCache(tmp_path / "c.sqlite"), RequestCache(tmp_path / "c.sqlite")
    from curate.llm.base import Completion

    a.record("k1", "m", Completion("one", "m"))
    b.record("k2", "m", Completion("two", "m"))
    assert set(a.finished(["k1", "k2", "k3"])) == {"k1", "k2"}
    assert a.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
