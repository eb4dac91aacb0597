"""A scripted LLM for tests (yours too): no model, deterministic, counts its calls.

    FakeLLM(responses=["A", "B"])                 cycles through the list
    FakeLLM(responses=lambda req: "A" if ... )    computes a reply from the request
    FakeLLM(responses={"substring": "reply"})     first key found in the last message wins
A reply that is an Exception instance becomes a failed Completion with that error.
``delay_s`` sleeps before each reply (a slow model, for interruption tests). In a pipeline:
``llm: {backend: fake, options: {responses: ["A", "B"], delay_s: 0.1}}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from curate.llm.base import LLM, ChatRequest, Completion, OnResult
from curate.registry import LLMS

Reply = str | Exception


class FakeOptions(BaseModel):
    """What a pipeline can script (callables and exceptions are for Python callers only)."""

    model_config = ConfigDict(extra="forbid")
    responses: list[str] | dict[str, str] | None = Field(None, description="replies to cycle through, or "
                                                         "substring -> reply (first match wins)")
    default: str = Field("ok", description="reply when no dict key matches (and the only reply without responses)")
    delay_s: float = Field(0.0, ge=0, description="sleep before each reply")


@LLMS.register("fake")
class FakeLLM(LLM):
    backend = "fake"
    streams_results = True
    Options = FakeOptions

    def __init__(self, model: str = "fake", responses: Sequence[Reply] | dict[str, Reply] |
                 Callable[[ChatRequest], Reply] | None = None, default: str = "ok", delay_s: float = 0.0):
        super().__init__(model)
        self.responses = responses if responses is not None else [default]
        self.default = default
        self.delay_s = delay_s
        self.calls: list[ChatRequest] = []

    @classmethod
    def from_config(cls, cfg, opts: FakeOptions) -> FakeLLM:
        return cls(model=cfg.model or "fake", **opts.model_dump())

    def _reply(self, req: ChatRequest) -> Reply:
        r = self.responses
        if callable(r):
            return r(req)
        if isinstance(r, dict):
            last = req.messages[-1]["content"] if req.messages else ""
            for key, value in r.items():
                if key in last:
                    return value
            return self.default
        return r[(len(self.calls) - 1) % len(r)]

    def _generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[Completion]:
        out = []
        for i, req in enumerate(requests):
            if self.delay_s:
                time.sleep(self.delay_s)
            self.calls.append(req)
            reply = self._reply(req)
            if isinstance(reply, Exception):
                out.append(Completion(None, self.model, error=f"{type(reply).__name__}: {reply}"))
            else:
                out.append(Completion(str(reply), self.model, finish_reason="stop"))
            if on_result is not None:
                on_result(i, out[-1])
        return out
