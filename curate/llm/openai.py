"""``openai``: any OpenAI-compatible chat server (vLLM ``vllm serve``, llama.cpp's server, OpenAI).

Requests run concurrently on an asyncio loop, at most ``concurrency`` in flight. A call is retried
up to ``max_retries`` times on 408/409/429/5xx, connection errors, timeouts and unparseable bodies,
waiting ``min(backoff_max_s, backoff_base_s * 2**attempt)`` scaled by random jitter in [0.5, 1],
or the server's ``Retry-After`` when that is longer (capped at 5 minutes). Other 4xx answers fail at once. A call that
still fails becomes a Completion with ``error`` (the run goes on; the cache records it).

The API key is read from the env var named by ``api_key_env`` when the client is built; it is put
in the Authorization header only, never in errors, logs, configs or the cache.

Options (``llm.options``): ``backoff_base_s`` (0.5), ``backoff_max_s`` (30), ``extra_body`` (dict
merged into every request, e.g. ``{"top_k": 20}`` for vLLM).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from curate.errors import ConfigError
from curate.llm.base import LLM, ChatRequest, Completion, OnResult
from curate.registry import LLMS

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
RETRY_AFTER_MAX_S = 300.0


class OpenAIOptions(BaseModel):
    """``llm.options`` of the openai backend (URL, key, concurrency and retries are LLMConfig fields)."""

    model_config = ConfigDict(extra="forbid")
    backoff_base_s: float = Field(0.5, ge=0, description="first retry wait; doubles per attempt")
    backoff_max_s: float = Field(30.0, ge=0, description="longest wait between retries")
    extra_body: dict[str, Any] | None = Field(None, description="merged into every request body, e.g. {top_k: 20}")


class _Retryable(Exception):
    def __init__(self, msg: str, retry_after: float | None = None):
        super().__init__(msg)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@LLMS.register("openai")
class OpenAILLM(LLM):
    backend = "openai"
    streams_results = True
    Options = OpenAIOptions

    def __init__(self, model: str, base_url: str = "https://api.openai.com/v1", api_key: str | None = None,
                 concurrency: int = 8, timeout_s: float = 60.0, max_retries: int = 4,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0, extra_body: dict | None = None):
        super().__init__(model)
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.concurrency, self.timeout_s, self.max_retries = concurrency, timeout_s, max_retries
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.extra_body = dict(extra_body or {})
        self.calls = 0  # HTTP requests sent, retries included
        self.waits: list[float] = []  # every backoff wait, in seconds (for stats and tests)

    def __repr__(self) -> str:  # never show the headers (they hold the key)
        return f"OpenAILLM(model={self.model!r}, base_url={self.base_url!r})"

    @classmethod
    def from_config(cls, cfg, opts: OpenAIOptions) -> OpenAILLM:
        api_key = None
        if cfg.api_key_env:
            api_key = os.environ.get(cfg.api_key_env)
            if not api_key:
                raise ConfigError(f"llm.api_key_env names '{cfg.api_key_env}', but that environment variable "
                                  f"is not set; export it before the run")
        if not cfg.model:
            raise ConfigError("llm.model is required for the openai backend (the server's model id)")
        return cls(cfg.model, base_url=cfg.base_url or "https://api.openai.com/v1", api_key=api_key,
                   concurrency=cfg.concurrency, timeout_s=cfg.timeout_s, max_retries=cfg.max_retries,
                   **opts.model_dump())

    # ------------------------------------------------------------ request body
    def body(self, req: ChatRequest) -> dict[str, Any]:
        p = req.params
        body: dict[str, Any] = {"model": self.model, "messages": req.messages, "temperature": p.temperature,
                                "max_tokens": p.max_tokens, "top_p": p.top_p}
        if p.seed is not None:
            body["seed"] = p.seed
        if p.stop:
            body["stop"] = list(p.stop)
        if p.json_schema:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "reply", "schema": json.loads(p.json_schema)}}
        elif p.response_format == "json":
            body["response_format"] = {"type": "json_object"}
        body.update(self.extra_body)
        return body

    # ------------------------------------------------------------ generation
    def _generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[Completion]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(requests, on_result))
        # called from inside a running loop (a notebook): run ours on a worker thread
        box: list = []
        t = threading.Thread(target=lambda: box.append(asyncio.run(self.agenerate(requests, on_result))))
        t.start()
        t.join()
        return box[0]

    async def agenerate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[Completion]:
        import httpx

        sem = asyncio.Semaphore(self.concurrency)
        out: list[Completion | None] = [None] * len(requests)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, headers=self._headers, limits=limits,
                                     timeout=httpx.Timeout(self.timeout_s)) as client:

            async def one(i: int) -> None:
                async with sem:
                    c = await self._call(client, requests[i])
                out[i] = c
                if on_result is not None:
                    on_result(i, c)

            await asyncio.gather(*(one(i) for i in range(len(requests))))
        return out  # type: ignore[return-value]

    async def _call(self, client, req: ChatRequest) -> Completion:
        body = self.body(req)
        error = ""
        for attempt in range(self.max_retries + 1):
            self.calls += 1
            try:
                return self._parse(await self._post(client, body), attempt + 1)
            except _Retryable as e:
                error = str(e)
                if attempt == self.max_retries:
                    break
                wait = min(self.backoff_max_s, self.backoff_base_s * 2 ** attempt) * random.uniform(0.5, 1.0)
                if e.retry_after is not None:
                    # the server knows best; only an absurd Retry-After is capped
                    wait = max(wait, min(e.retry_after, RETRY_AFTER_MAX_S))
                self.waits.append(wait)
                await asyncio.sleep(wait)
            except _Fatal as e:
                return Completion(None, self.model, error=str(e), attempts=attempt + 1)
        return Completion(None, self.model, error=f"{error} (gave up after {self.max_retries + 1} attempts)",
                          attempts=self.max_retries + 1)

    async def _post(self, client, body: dict) -> dict:
        import httpx

        try:
            r = await client.post("/chat/completions", json=body)
        except httpx.TimeoutException as e:
            raise _Retryable(f"timeout after {self.timeout_s}s ({type(e).__name__})") from None
        except httpx.TransportError as e:
            raise _Retryable(f"connection error: {type(e).__name__}: {e}") from None
        if r.status_code in RETRY_STATUS:
            raise _Retryable(f"HTTP {r.status_code}: {r.text[:200]}", retry_after_seconds(r.headers.get("retry-after")))
        if r.status_code >= 400:
            raise _Fatal(f"HTTP {r.status_code} from {self.base_url}/chat/completions: {r.text[:300]}")
        try:
            return r.json()
        except ValueError:
            raise _Retryable(f"unparseable response body: {r.text[:200]!r}") from None

    def _parse(self, data: Any, attempts: int) -> Completion:
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("message.content is not a string")
        except (KeyError, IndexError, TypeError) as e:
            raise _Retryable(f"malformed completion ({type(e).__name__}: {e}): {str(data)[:200]}") from None
        usage = {k: v for k, v in (data.get("usage") or {}).items() if isinstance(v, int)}
        return Completion(text, data.get("model") or self.model, finish_reason=choice.get("finish_reason"),
                          usage=usage, attempts=attempts)


class _Fatal(Exception):
    """A non-retryable answer (400, 401, 404...)."""
