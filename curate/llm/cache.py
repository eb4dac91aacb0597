"""Content-addressed request cache: a finished LLM call is never made twice.

``CachedLLM(llm, path)`` wraps any backend. The key of a call is ``request_key("<backend>/<model>",
request)``: a hash of the model, the generation params (seed included) and the messages, so a
rerun, a resumed run, or a run whose *other* steps changed finds every finished call.

Storage is one SQLite table in WAL mode with a busy timeout, so several processes (parallel runs,
a benchmark beside a pipeline) can read and write the same file. Each row keeps the text, the
error, how many attempts were made in total, and first/last timestamps.

**Failures** (an error after the backend's retries) are recorded with their error and attempt
count, but are *not* treated as finished: the next run asks the backend again (and adds to the
attempt count). A transient outage then heals itself on rerun, and the table still says what
failed and how often.

Every finished response is written as soon as the backend reports it (``on_result``), one small
transaction each, so Ctrl-C in the middle of a batch loses only the calls still in flight.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from curate.llm.base import LLM, ChatRequest, Completion, OnResult, request_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT,
    error TEXT,
    finish_reason TEXT,
    usage TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
)
"""


class RequestCache:
    """The SQLite table alone (no backend): get finished calls, record results."""

    def __init__(self, path: str | Path, timeout_s: float = 30.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: async backends report results from their event-loop thread
        self.db = sqlite3.connect(str(self.path), timeout=timeout_s, check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        self.db.execute(_SCHEMA)
        self.lock = threading.Lock()

    def finished(self, keys: Sequence[str]) -> dict[str, tuple]:
        """key → (text, finish_reason, usage_json) for the keys with a successful result."""
        out: dict[str, tuple] = {}
        uniq = list(dict.fromkeys(keys))
        with self.lock:
            for i in range(0, len(uniq), 500):  # SQLite caps the number of bound parameters
                chunk = uniq[i:i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(
                    f"SELECT key, text, finish_reason, usage FROM calls WHERE error IS NULL AND key IN ({marks})",
                    chunk).fetchall()
                out.update({r[0]: r[1:] for r in rows})
        return out

    def record(self, key: str, model: str, c: Completion) -> None:
        now = time.time()
        usage = json.dumps(c.usage) if c.usage else None
        with self.lock:
            self.db.execute(
                "INSERT INTO calls (key, model, text, error, finish_reason, usage, attempts, created, updated) "
                "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET text=excluded.text, "
                "error=excluded.error, finish_reason=excluded.finish_reason, usage=excluded.usage, "
                "attempts=calls.attempts+excluded.attempts, updated=excluded.updated",
                (key, model, c.text if c.ok else None, c.error, c.finish_reason, usage, c.attempts, now, now))

    def failures(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT key, model, error, attempts FROM calls WHERE error IS NOT NULL").fetchall()
        return [{"key": k, "model": m, "error": e, "attempts": a} for k, m, e, a in rows]

    def count(self) -> int:
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM calls WHERE error IS NULL").fetchone()[0]

    def close(self) -> None:
        with self.lock:
            self.db.close()


class CachedLLM(LLM):
    """Any LLM behind the request cache; counts hits, misses and failures in ``self.counts``."""

    streams_results = True

    def __init__(self, llm: LLM, path: str | Path):
        super().__init__(llm.model)
        self.inner = llm
        self.backend = llm.backend  # type: ignore[misc]  # reported as the wrapped backend
        self.cache = RequestCache(path)
        self.counts: Counter = Counter()

    def key(self, request: ChatRequest) -> str:
        return request_key(f"{self.inner.backend}/{self.inner.model}", request)

    def _generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[Completion]:
        keys = [self.key(r) for r in requests]
        hits = self.cache.finished(keys)
        out: list[Completion | None] = [None] * len(requests)
        todo: list[int] = []
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k in hits:
                text, finish, usage = hits[k]
                out[i] = Completion(text, self.inner.model, finish_reason=finish, cached=True,
                                    usage=json.loads(usage) if usage else {}, attempts=0)
                self.counts["hits"] += 1
                if on_result is not None:
                    on_result(i, out[i])
            elif k in first:
                self.counts["duplicates"] += 1  # same call twice in one batch: made once
            else:
                first[k] = i
                todo.append(i)

        def done(j: int, c: Completion) -> None:
            i = todo[j]
            self.cache.record(keys[i], self.inner.model, c)
            self.counts["misses"] += 1
            if not c.ok:
                self.counts["failures"] += 1
            out[i] = c
            if on_result is not None:
                on_result(i, c)

        if todo:
            self.inner.generate([requests[i] for i in todo], on_result=done)
        for i, k in enumerate(keys):  # fill the in-batch duplicates from their first occurrence
            if out[i] is None:
                src = out[first[k]]
                out[i] = Completion(src.text, src.model, src.error, src.finish_reason, True, dict(src.usage), 0)
                if on_result is not None:
                    on_result(i, out[i])
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.inner.close()
        self.cache.close()
