"""A scripted LLM for tests (yours too): no model, deterministic, counts its calls.

    FakeLLM(responses=["A", "B"])                 cycles through the list
    FakeLLM(responses=lambda req: "A" if ... )    computes a reply from the request
    FakeLLM(responses={"substring": "reply"})     first key found in the last message wins
A reply that is an Exception instance becomes a failed Completion with that error.
"""

from __future__ import annotations

from typing import Callable, Sequence

from curate.llm.base import LLM, ChatRequest, Completion
from curate.registry import LLMS

Reply = str | Exception


@LLMS.register("fake")
class FakeLLM(LLM):
    backend = "fake"

    def __init__(self, model: str = "fake", responses: Sequence[Reply] | dict[str, Reply] |
                 Callable[[ChatRequest], Reply] | None = None, default: str = "ok"):
        super().__init__(model)
        self.responses = responses if responses is not None else [default]
        self.default = default
        self.calls: list[ChatRequest] = []

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

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        out = []
        for req in requests:
            self.calls.append(req)
            reply = self._reply(req)
            if isinstance(reply, Exception):
                out.append(Completion(None, self.model, error=f"{type(reply).__name__}: {reply}"))
            else:
                out.append(Completion(str(reply), self.model, finish_reason="stop"))
        return out
