"""A small OpenAI-compatible server over any curate LLM, with fault injection, for tests and benchmarks.

Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` from a FakeLLM, the llama.cpp model or
any other backend. Fault knobs: ``fail_rate`` (fraction of calls that fail), ``faults`` (which
kinds: ``500``, ``429``, ``timeout`` (sleeps ``hang_s`` before answering), ``garbage`` (a 200 with a
non-JSON body)), ``delay_s`` (added to every call), ``seed`` (the fault draw is reproducible).
``api_key`` makes it answer 401 to requests without ``Authorization: Bearer <key>``.
It counts everything: ``calls`` (HTTP requests), ``outcomes`` (by kind) and ``served`` (request
key → number of successful answers), which is how tests prove no finished call was repeated.

    with TestServer(FakeLLM(responses=["hi"]), fail_rate=0.3) as srv:
        srv.base_url   # http://127.0.0.1:PORT/v1

Run standalone: ``python -m curate.testing.llm_server --backend llamacpp --port 8011``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence

from curate.llm.base import LLM, ChatRequest, GenParams, request_key
from curate.testing.localserver import ThreadedServer, free_port

FAULTS = ("500", "429", "timeout", "garbage")


def _params(body: dict) -> GenParams:
    stop = body.get("stop") or ()
    wants_json = (body.get("response_format") or {}).get("type") == "json_object"
    return GenParams(temperature=float(body.get("temperature", 0.7)), max_tokens=int(body.get("max_tokens") or 512),
                     top_p=float(body.get("top_p", 1.0)), seed=body.get("seed"),
                     stop=tuple([stop] if isinstance(stop, str) else stop),
                     response_format="json" if wants_json else None)


class TestServer:
    __test__ = False  # not a pytest class

    def __init__(self, llm: LLM, port: int | None = None, fail_rate: float = 0.0,
                 faults: Sequence[str] = FAULTS, delay_s: float = 0.0, hang_s: float = 5.0,
                 retry_after: float | None = None, api_key: str | None = None, seed: int = 0):
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        self.llm, self.port = llm, port or free_port()
        self.fail_rate, self.faults, self.delay_s, self.hang_s = fail_rate, tuple(faults), delay_s, hang_s
        self.retry_after, self.api_key = retry_after, api_key
        self.rng = random.Random(seed)
        self.calls = 0
        self.outcomes: Counter = Counter()
        self.served: Counter = Counter()
        self._gen_lock = threading.Lock()  # one generation at a time: in-process models are not thread-safe
        self._lock = threading.Lock()  # counters and the fault draw
        self._server: ThreadedServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # ------------------------------------------------------------ the app
    def app(self):
        # plain Starlette: FastAPI's signature inspection trips over postponed annotations in closures
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, PlainTextResponse
        from starlette.routing import Route

        async def models(request):
            return JSONResponse({"object": "list",
                                 "data": [{"id": self.llm.model, "object": "model", "owned_by": "curate"}]})

        async def chat(request):
            if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
                self.outcomes["401"] += 1
                return JSONResponse({"error": {"message": "invalid API key"}}, status_code=401)
            body = await request.json()
            with self._lock:
                self.calls += 1
                fault = self.rng.choice(self.faults) if self.rng.random() < self.fail_rate else None
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if fault == "timeout":
                await asyncio.sleep(self.hang_s)
            if fault in ("500", "429"):
                self.outcomes[fault] += 1
                headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
                return JSONResponse({"error": {"message": f"injected {fault}"}}, status_code=int(fault),
                                    headers=headers)
            if fault == "garbage":
                self.outcomes["garbage"] += 1
                return PlainTextResponse("<html>upstream exploded", status_code=200)
            req = ChatRequest(body["messages"], _params(body))
            c = await asyncio.to_thread(self._generate, req)
            if not c.ok:
                self.outcomes["backend_error"] += 1
                return JSONResponse({"error": {"message": c.error}}, status_code=500)
            self.outcomes["timeout_late" if fault == "timeout" else "ok"] += 1
            # keyed like the client's request cache (CachedLLM) so tests can compare the two
            self.served[request_key(f"openai/{body.get('model', '')}", req)] += 1
            return JSONResponse({
                "id": f"chatcmpl-{self.calls}", "object": "chat.completion", "created": int(time.time()),
                "model": self.llm.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text},
                             "finish_reason": c.finish_reason or "stop"}],
                "usage": c.usage or {}})

        return Starlette(routes=[Route("/v1/models", models, methods=["GET"]),
                                 Route("/v1/chat/completions", chat, methods=["POST"])])

    def _generate(self, req: ChatRequest):
        with self._gen_lock:
            return self.llm.generate([req])[0]

    # ------------------------------------------------------------ lifecycle
    def start(self) -> TestServer:
        self._server = ThreadedServer(self.app(), self.port, "test server", access_log=False,
                                      timeout_keep_alive=30).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:  # pragma: no cover - manual use
    import argparse

    from curate.llm.config import LLMConfig, build_llm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="llamacpp")
    ap.add_argument("--model", default=None)
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--fail-rate", type=float, default=0.0)
    a = ap.parse_args()
    llm = build_llm(LLMConfig(backend=a.backend, model=a.model, cache=False))
    srv = TestServer(llm, port=a.port, fail_rate=a.fail_rate).start()
    print(f"serving {llm.model} at {srv.base_url}; Ctrl-C stops", flush=True)
    try:
        srv._server.join()
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
