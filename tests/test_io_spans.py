"""Byte-range chunks (``curate.io.spans``) read back exactly the lines of ``JsonlSource.blocks()``, and
a reader given a sink writes each batch's shard where it converts it, with the same records."""

from __future__ import annotations

import gzip
import json

import numpy as np
import polars as pl
import pytest

import curate.io.reader as reader_mod
from curate import Pipeline
from curate.io.jsonl import JsonlSource
from curate.io.reader import Reader
from curate.io.scan import positions
from curate.io.spans import Lines, Span, materialize
from curate.io.writers import ShardWriter

TRICKY = [
    b'{"a": 1}\n\n   \n{"b": "x\\r"}\r\n',  # blank and whitespace-only lines, a \r kept
    b'{"a": 1}\n{"b": 2}',  # no newline after the last line
    b"\n\n\n",  # only blank lines
    b'{"a": 1}\n',
    b"",
]


def _lines(blocks) -> list[tuple[str, int, list[bytes]]]:
    # sliced as the reader's chunking does: each LineIndex whole, and split at its middle line
    segs = []
    for p, first, index in blocks:
        half = len(index) // 2
        whole = [(p, first, index[0:1])]
        segs += [(p, first, index[0:half]), (p, first + half, index[half:len(index)])] if half else whole
    return [(p, first, list(lines)) for p, first, lines in materialize(segs)]


@pytest.mark.parametrize("block", [3, 7, 1 << 20])  # blocks cut lines in two, or hold the file
@pytest.mark.parametrize("text", TRICKY)
def test_spans_read_back_the_lines_of_blocks(tmp_path, text, block):
    path = tmp_path / "t.jsonl"
    path.write_bytes(text)
    src = JsonlSource([str(path)])
    src.BLOCK = block
    want = [(p, first + i, line) for p, first, lines in src.blocks() for i, line in enumerate(lines)]
    got = [(p, first + i, line) for p, first, lines in _lines(src.blocks(spans=True)) for i, line in enumerate(lines)]
    assert got == want
    assert src.done == len(text)


@pytest.mark.parametrize("text", [t for t in TRICKY if t] + [b"\na\n", b"a\n\nb", b"a\nb\n\n", b"x"])
def test_lines_cut_from_the_text_on_demand_are_its_split_lines(text):
    want = text.split(b"\n")
    if text.endswith(b"\n"):
        want.pop()  # no line after the last newline
    lines = Lines(text, positions(np.frombuffer(text, np.uint8), b"\n"))
    assert len(lines) == len(want) and list(lines) == want and [lines[i] for i in range(len(want))] == want
    assert lines[-1] == want[-1] and lines[1:3] == want[1:3]
    assert lines.has_blank() is (b"" in want)
    with pytest.raises(IndexError):
        lines[len(want)]


def test_a_span_of_a_changed_file_says_so(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n')
    span = Span(str(path), 0, 18, 2)
    assert list(span.read()) == [b'{"a": 1}', b'{"a": 2}'] and span.read().text == b'{"a": 1}\n{"a": 2}\n'
    path.write_bytes(b'{"a": 1}\n')
    from curate.errors import InputError

    with pytest.raises(InputError, match="changed while it was being read"):
        span.read()


@pytest.fixture(scope="module")
def plain_edge_file(tmp_path_factory, hh_path):
    rows = [json.loads(x) for x in gzip.open(hh_path, "rt")][:600]
    rows[3]["rejected"] = rows[3]["chosen"]
    rows[150]["extra"] = {"k": [1, 2]}
    lines = [json.dumps(r) for r in rows]
    lines.insert(120, "")
    lines.insert(230, "{not json")
    path = tmp_path_factory.mktemp("spans") / "e.jsonl"
    path.write_text("\n".join(lines))  # no newline at the end
    return path


def _reader(path, processes: bool, **kw) -> Reader:
    r = Reader(str(path), format="hh", **kw)
    r.workers = 2
    r.process_min_bytes = 0 if processes else 1 << 62
    return r


@pytest.mark.parametrize("batch_size", [97, 250])
def test_span_chunks_in_processes_equal_line_chunks(plain_edge_file, batch_size):
    a = list(_reader(plain_edge_file, True, batch_size=batch_size).batches())
    b = list(_reader(plain_edge_file, False, batch_size=batch_size).batches())
    assert [(x.index, x.rows, x.quarantined) for x in a] == [(y.index, y.rows, y.quarantined) for y in b]
    assert all(x.frame.equals(y.frame) for x, y in zip(a, b))
    # rows 87 and 519 of the sample have an empty response; the blank line 121 is skipped
    assert {q["line"]: q["reason"] for x in a for q in x.quarantined} == {
        4: "identical_responses", 87: "empty_response", 231: "invalid_json", 519: "empty_response"}
    assert sum(x.frame.height for x in a) == 597 and sum(x.rows for x in a) == 601


@pytest.mark.parametrize("processes", [True, False])
def test_reader_writes_shards_to_a_sink(plain_edge_file, tmp_path, processes):
    want = list(_reader(plain_edge_file, processes, batch_size=200).batches())
    sink = ShardWriter(tmp_path / "out")
    got = list(_reader(plain_edge_file, processes, batch_size=200).batches(sink, sink_from=1))
    assert [b.written for b in got] == [b.frame.height for b in want] and all(b.frame.height == 0 for b in got)
    assert [b.quarantined for b in got] == [b.quarantined for b in want]
    assert [p.name for p in sink.shards()] == [f"part-0000{i}.parquet" for i in (1, 2, 3)]  # 0 was committed
    for b in want[1:]:
        assert pl.read_parquet(sink.path(b.index)).equals(b.frame)


def test_run_without_steps_in_processes_writes_the_same_run(plain_edge_file, tmp_path, monkeypatch):
    parent_writes = []
    real_write = ShardWriter.write
    monkeypatch.setattr(ShardWriter, "write", lambda self, i, df: parent_writes.append(i) or real_write(self, i, df))

    monkeypatch.setattr(reader_mod, "PROCESS_MIN_CPUS", 1)  # processes on any machine

    def run(out, steps, min_bytes):
        monkeypatch.setattr(reader_mod, "PROCESS_MIN_BYTES", min_bytes)
        stats = Pipeline(input={"path": str(plain_edge_file), "format": "hh"}, steps=steps,
                         output={"dir": str(out)}, batch_size=150).run()
        shards = [pl.read_parquet(f) for f in sorted((out / "data").glob("*.parquet"))]
        quarantine = [f.read_text() for f in sorted((out / "quarantine").glob("*.jsonl"))]
        return stats["read"], stats["output"]["records"], shards, quarantine

    direct = run(tmp_path / "a", [], 0)  # the workers write the shards
    assert parent_writes == []  # not this process (spawned workers do not see the patch)
    through = run(tmp_path / "b", [lambda df: df], 1 << 62)  # a step: the runner writes them
    assert parent_writes == [0, 1, 2, 3, 4]
    assert direct[:2] == through[:2] and direct[3] == through[3]
    assert len(direct[2]) == len(through[2]) == 5 and all(x.equals(y) for x, y in zip(direct[2], through[2]))


@pytest.mark.parametrize("cpus, sink, processes", [(1, True, False), (2, False, False), (2, True, True),
                                                  (8, False, True)])
def test_processes_by_cores_and_sink(plain_edge_file, monkeypatch, cpus, sink, processes):
    import os

    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(reader_mod, "PROCESS_MIN_BYTES", 0)
    r = Reader(str(plain_edge_file), format="hh")
    # on 2 cores only when the workers write the shards: records sent back to steps cost two
    # interpreters' memory for little time
    assert r._processes(sink) is processes
