"""On-disk embedding cache keyed by (model signature, text hash), shared by every step of every run.

Several steps embed the same texts (semantic dedup, decontamination, an embedding reward model),
and a resumed run embeds them again; the cache turns the repeats into one SQLite lookup.
``CachedEmbedder`` wraps any ``Embedder`` and keeps its contract: ``embed(texts)`` returns
L2-normalised float32 vectors in the order of ``texts``. Repeated texts within one call are
embedded once. Vectors are stored as raw float32 bytes.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from curate.embed.base import Embedder

_CHUNK = 500  # SQLite host-parameter limit is 999 on old builds


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
                         "vec BLOB NOT NULL, PRIMARY KEY (model, key)) WITHOUT ROWID")
        self._db.commit()

    def get(self, model: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), _CHUNK):
                part = list(keys[i:i + _CHUNK])
                q = f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({','.join('?' * len(part))})"
                for k, v in self._db.execute(q, [model, *part]):
                    found[k] = np.frombuffer(v, dtype=np.float32)
        return found

    def put(self, model: str, keys: Sequence[bytes], vecs: np.ndarray) -> None:
        rows = [(model, k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vecs)]
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO vectors (model, key, vec) VALUES (?, ?, ?)", rows)
            self._db.commit()

    def count(self, model: str | None = None) -> int:
        with self._lock:
            if model is None:
                return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", (model,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedEmbedder(Embedder):
    """Any embedder behind the cache; ``hits``/``misses`` count texts looked up."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache | str | Path):
        super().__init__(inner.model, inner.batch_size)
        self.inner = inner
        self.backend = inner.backend
        self.dim = inner.dim
        self.cache = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache)
        self.hits = self.misses = 0

    def signature(self) -> str:
        return self.inner.signature()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        sig = self.signature()
        found = self.cache.get(sig, list(dict.fromkeys(keys)))
        todo: dict[bytes, str] = {}
        for k, t in zip(keys, texts):
            if k not in found and k not in todo:
                todo[k] = t
        if todo:
            fresh = self.inner.embed(list(todo.values()))
            self.cache.put(sig, list(todo), fresh)
            found.update(zip(todo, fresh))
        self.hits += sum(1 for k in keys if k not in todo)
        self.misses += len(todo)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)

    def _embed(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - embed is overridden
        return self.inner._embed(texts)

    def close(self) -> None:
        self.inner.close()
        self.cache.close()
