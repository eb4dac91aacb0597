"""Converting JSONL chunks in worker processes, so the GIL-bound part of ingest runs on every core.

The threaded fast path (``Reader._parallel_batches``) overlaps polars' work, which releases the
GIL, but record ids (sha256 per pair), line splitting and the quarantine bookkeeping hold it. For
inputs of ``PROCESS_MIN_BYTES`` or more, on a machine of ``PROCESS_MIN_CPUS`` cores or more, the
reader hands chunks to a pool of processes instead (``spawn``: forking a process that runs polars'
thread pool can deadlock). Each worker builds its own ``Reader`` from the same arguments, told the
record kind the first chunk chose, and runs exactly the conversion a thread would
(``Reader._convert``: the vectorised path, or the row path for a chunk with a bad line), so
records, quarantine rows, their line numbers and batch boundaries are the same; results come back
in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PROCESS_MIN_BYTES = 256 << 20  # below this, starting interpreters costs more than it saves
# On fewer cores than PROCESS_MIN_CPUS, processes only when the reader writes the shards itself (a
# run whose first stage has no steps: SINK_PROCESS_MIN_CPUS). The records then never travel back,
# and on 2 cores the pool was as fast or faster than threads and held less memory: an AMD EPYC
# without AVX2 read 1 GB in 12.0 s either way (threads 802 MB peak, processes 428 MB), an Intel
# Xeon with AVX-512 in 8.7-9.0 s on threads, 8.0 s on processes (770 vs 450 MB; benchmarks/README.md,
# "Ingest"). When the records go back to the run's steps, two more interpreters cost ~330 MB (stage 1
# of the 1M-pair scale run: 1,018 -> 1,347 MB) for ~10% of the reading time: threads, on 2 cores.
PROCESS_MIN_CPUS = 3
SINK_PROCESS_MIN_CPUS = 2

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
    """A started pool of `workers` spawned processes, each with its own Reader (``init_worker``).

    Each worker's polars gets ``cpus // workers`` threads (``POLARS_MAX_THREADS``, unless the user
    set it): polars sizes its thread pool to every core in every process, and on 2 cores two workers
    of 2 threads each spin and switch against each other; and its allocator keeps freed pages a
    while (``_ALLOCATOR``). A process reads these when it starts, so they are set while the workers
    start and restored after.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=init_worker,
                               initargs=(reader_kw, kind))
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    with _environ({"POLARS_MAX_THREADS": threads, **_ALLOCATOR}):
        for _ in range(workers):  # a process starts per task while none is idle: all start now
            pool.submit(int)
    return pool


# polars' allocator (jemalloc) returns freed pages to the OS at once, so each chunk page-faults its
# ~100 MB of buffers in again; kept for 10 s, a worker reuses them (system time of a 20k-line HH
# chunk's conversion: 52 → 15 ms)
_ALLOCATOR = {"_RJEM_MALLOC_CONF": "dirty_decay_ms:10000,muzzy_decay_ms:10000"}


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """`values` in the environment for the processes started inside; a user's own setting wins."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)
