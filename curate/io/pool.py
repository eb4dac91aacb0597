"""Converting JSONL chunks in worker processes, so the GIL-bound part of ingest runs on every core.

The threaded fast path (``Reader._parallel_batches``) overlaps polars' work, which releases the
GIL, but record ids (sha256 per pair), line joining and the quarantine bookkeeping hold it: on 2
cores one interpreter is the limit. For inputs of ``PROCESS_MIN_BYTES`` or more the reader hands
chunks to a pool of processes instead (``spawn``: forking a process that runs polars' thread pool
can deadlock). Each worker builds its own ``Reader`` from the same arguments, told the record kind
the first chunk chose, and runs exactly the conversion a thread would (``Reader._convert``: the
vectorised path, or the row path for a chunk with a bad line), so records, quarantine rows, their
line numbers and batch boundaries are the same; results come back in order.
"""

from __future__ import annotations

from typing import Any

PROCESS_MIN_BYTES = 256 << 20  # below this, starting interpreters costs more than it saves

_READER: Any = None  # the worker process's Reader


def init_worker(reader_kw: dict, kind: str | None) -> None:
    global _READER
    from curate.io.reader import Reader

    _READER = Reader(**reader_kw)
    _READER.kind = kind
    _READER.workers = 1


def convert(chunk: list, index: int, sink: Any = None, sink_from: int = 0) -> Any:
    """One chunk of (file, first line, lines or Span) segments → its ``ReadBatch``; with a `sink`
    (a ``ShardWriter``) the worker writes the records itself and sends back only their count."""
    return _READER._convert_batch(chunk, index, False, sink, sink_from)


def process_pool(workers: int, reader_kw: dict, kind: str | None):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=init_worker,
                               initargs=(reader_kw, kind))
