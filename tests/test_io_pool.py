"""Chunks converted in worker processes give the threads' (and the row path's) batches exactly:
records, quarantine rows with their lines and reasons, batch boundaries and row counts."""

from __future__ import annotations

import gzip
import json

import pytest

from curate.io.reader import Reader


def _batches(path, processes: bool, **kw):
    r = Reader(str(path), **kw)
    r.workers = 2
    r.process_min_bytes = 0 if processes else 1 << 62
    return list(r.batches())


def _same(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.index == y.index and x.rows == y.rows and x.frame.equals(y.frame)
        assert x.quarantined == y.quarantined


@pytest.fixture(scope="module")
def edge_file(tmp_path_factory, hh_path):
    rows = [json.loads(x) for x in gzip.open(hh_path, "rt")][:400]
    rows[3]["rejected"] = rows[3]["chosen"]
    rows[70]["chosen"] += "\n\nHuman: and then?"
    rows[150]["extra"] = {"k": [1, 2]}
    lines = [json.dumps(r) for r in rows]
    lines.insert(120, "")
    lines.insert(230, "{not json")
    lines.insert(300, '{"prompt": "a candidate row", "responses": ["x", "y"]}')  # another kind: mixed_layout
    path = tmp_path_factory.mktemp("pool") / "e.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_processes_equal_threads_on_real_hh(hh_path, monkeypatch):
    import curate.io.reader as reader

    pools = []
    real = reader.process_pool
    monkeypatch.setattr(reader, "process_pool", lambda *a: pools.append(a) or real(*a))
    procs = _batches(hh_path, True, format="hh", batch_size=300)
    assert len(pools) == 1  # the process pool did the work
    _same(procs, _batches(hh_path, False, format="hh", batch_size=300))
    assert sum(b.frame.height for b in procs) == 2303


@pytest.mark.parametrize("fmt", ["hh", "auto"])
def test_processes_equal_threads_with_bad_lines(edge_file, fmt):
    procs = _batches(edge_file, True, format=fmt, batch_size=50)
    _same(procs, _batches(edge_file, False, format=fmt, batch_size=50))
    reasons = {q["line"]: q["reason"] for b in procs for q in b.quarantined}
    assert reasons[4] == "identical_responses" and reasons[231] == "invalid_json" and len(reasons) >= 4


def test_workers_share_the_cores_between_them(hh_path, monkeypatch):
    import os

    from curate.io.pool import process_pool

    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    monkeypatch.delenv("_RJEM_MALLOC_CONF", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    with process_pool(2, {"path": str(hh_path), "format": "hh"}, "pair") as pool:
        seen = {pool.submit(os.getenv, "POLARS_MAX_THREADS").result() for _ in range(4)}
        assert pool.submit(os.getenv, "_RJEM_MALLOC_CONF").result().startswith("dirty_decay_ms:")
    assert seen == {"2"} and "POLARS_MAX_THREADS" not in os.environ  # the parent's is left alone
    monkeypatch.setenv("POLARS_MAX_THREADS", "3")  # the user's setting wins
    with process_pool(2, {"path": str(hh_path), "format": "hh"}, "pair") as pool:
        assert pool.submit(os.getenv, "POLARS_MAX_THREADS").result() == "3"
