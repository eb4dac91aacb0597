"""Source rows → validated record batches, with every bad row quarantined.

``Reader.batches()`` yields ``ReadBatch(index, frame, quarantined, rows)``: ``frame`` holds the good
records of the next ``batch_size`` source rows in the record schema; ``quarantined`` lists the bad
rows as ``{"file", "line", "reason", "detail", "raw"}`` so nothing is lost.

With ``format: auto`` every row is detected on its own (a file may mix layouts); records of one
input are all pairs or all candidates, and a row of the other kind is quarantined (``mixed_layout``).
Each file gets its own adapter, so a record's ``source`` names the file it came from.

JSONL with a format that has a vectorised ``convert_frame`` (HH) takes a fast path: the chunk is
parsed by polars and converted with expressions. A chunk polars cannot parse (a malformed line) or
would read differently from orjson falls back to the row-by-row path, which finds and quarantines
the bad lines; both paths give the same records and the same batch boundaries.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import polars as pl

from curate.errors import ConfigError, RecordError
from curate.io.formats.base import Format, detect_format, find_format
from curate.io.pool import PROCESS_MIN_BYTES, PROCESS_MIN_CPUS, SINK_PROCESS_MIN_CPUS, process_pool
from curate.io.pool import convert as pool_convert
from curate.io.rows import loads
from curate.io.scan import disagrees, keys_once, plain_string_rows
from curate.io.sources import JsonlSource, Row, Source, open_source
from curate.io.spans import Lines, materialize
from curate.io.writers import ShardWriter
from curate.registry import FORMATS
from curate.schema import frame


@dataclass
class ReadBatch:
    index: int
    frame: pl.DataFrame
    quarantined: list[dict] = field(default_factory=list)
    rows: int = 0  # source rows this batch consumed
    written: int | None = None  # records the reader wrote to the sink itself (frame is then empty)

    @property
    def records(self) -> int:
        """Records of this batch: in ``frame``, or written to the sink by the reader."""
        return self.frame.height if self.written is None else self.written


class Reader:
    def __init__(self, path: str | list[str], type: str = "auto", format: str = "auto",
                 columns: dict | None = None, format_options: dict | None = None,
                 split: str = "train", name: str | None = None, limit: int | None = None,
                 source_label: str | None = None, batch_size: int = 1000):
        self._kw = dict(path=path, type=type, format=format, columns=columns, format_options=format_options,
                        split=split, name=name, limit=limit, source_label=source_label, batch_size=batch_size)
        self.source: Source = open_source(path, type=type, split=split, name=name)
        self.format_name = format
        self.format_kw: dict[str, Any] = dict(format_options or {})
        if columns:
            self.format_kw["columns"] = columns
        self.limit = limit
        self.label = source_label
        self.batch_size = batch_size
        self._adapters: dict[tuple[type, str], Format] = {}  # one per (format, file): `source` names the file
        self._adapter: Format | None = None  # the first adapter used: it decides the fast path
        self._pending: dict | None = None  # adjacent-merge buffer for candidate formats (HelpSteer2)
        self.workers = max(1, min(4, os.cpu_count() or 1))
        # inputs this big convert in processes (pool.py); on 2 cores only when they also write the shards
        cpus = os.cpu_count() or 1
        self.process_min_bytes = PROCESS_MIN_BYTES if cpus >= PROCESS_MIN_CPUS else 1 << 62
        self.sink_min_bytes = PROCESS_MIN_BYTES if cpus >= SINK_PROCESS_MIN_CPUS else 1 << 62
        self.kind: str | None = None
        if format != "auto":
            cls = FORMATS.get(format)
            self.kind = cls.kind
            cls(source="", **self.format_kw)  # a typo in format_options / columns fails before any row is read

    # ------------------------------------------------------------ adapter
    def _adapter_for(self, row: Row) -> Format:
        """The adapter for this row: the configured format, or (``format: auto``) the one detected
        for this very row, so a file mixing layouts (HH rows, then TRL rows) reads each row right.

        Raises RecordError for a row no format detects, or one whose kind (pair / candidate) differs
        from the rows before it; ConfigError if the first row's layout is unknown.
        """
        if self.format_name != "auto":
            cls = FORMATS.get(self.format_name)
        else:
            cls = find_format(row.value, row.text_cells)
            if cls is None:
                if self._adapter is None:
                    detect_format(row.value, row.text_cells)  # raises the ConfigError naming the formats
                keys = sorted(row.value)[:12]
                raise RecordError("unknown_layout", f"no input format detects a row with keys {keys}; set input.format")
            if self.kind is not None and cls.kind != self.kind:
                raise RecordError("mixed_layout", f"row looks like format '{cls.name}' ({cls.kind} records) but "
                                                  f"this input gives {self.kind} records; split the file or "
                                                  "set input.format")
        label = self.label or os.path.basename(row.file)
        adapter = self._adapters.get((cls, label))
        if adapter is None:
            adapter = self._adapters.setdefault((cls, label), cls(source=label, **self.format_kw))
        if self._adapter is None:
            self._adapter, self.kind = adapter, cls.kind
        return adapter

    def _convert_row(self, row: Row) -> list[dict]:
        """One parsed row → records (RecordError for a bad one; nesting too deep is one too)."""
        try:
            adapter = self._adapter_for(row)
            value = adapter.decode_cells(row.value) if row.text_cells else row.value
            return adapter.convert(value)
        except RecursionError:
            raise RecordError("too_deep", "the row is nested too deeply to read") from None

    @staticmethod
    def _quarantine(row: Row, err: RecordError) -> dict:
        raw = row.raw if row.raw is not None else _dump(row.value)
        return {"file": row.file, "line": row.line, "reason": err.reason, "detail": err.detail, "raw": raw}

    # ------------------------------------------------------------ chunks of raw rows
    def _chunks(self) -> Iterator[list]:
        """Lists of `batch_size` source rows (JSONL: physical lines, as (file, first line, lines) segments)."""
        if isinstance(self.source, JsonlSource):
            # with more than one worker a chunk carries byte ranges, not lines (curate.io.spans): the
            # worker (a process, or a thread) reads and splits them, and this thread, which feeds every
            # worker, only finds where lines end; the fast path then parses the range as read, unjoined
            yield from self._line_chunks(self.source.blocks(spans=self.workers > 1))
            return
        items = iter(self.source)
        if self.limit is not None:
            items = islice(items, self.limit)
        while chunk := list(islice(items, self.batch_size)):
            yield chunk

    def _line_chunks(self, blocks: Iterator) -> Iterator[list]:
        chunk: list = []
        size, budget = 0, self.limit
        for block in blocks:
            if isinstance(block, Row):  # an error row, or a record of a JSON array: one source row
                if budget == 0:
                    break
                chunk.append(block)
                size, budget = size + 1, None if budget is None else budget - 1
                if size == self.batch_size:
                    yield chunk
                    chunk, size = [], 0
                continue
            path, first, lines = block
            pos = 0
            while pos < len(lines) and budget != 0:
                take = min(self.batch_size - size, len(lines) - pos, budget if budget is not None else len(lines))
                chunk.append((path, first + pos, lines[pos:pos + take]))
                pos, size = pos + take, size + take
                budget = None if budget is None else budget - take
                if size == self.batch_size:
                    yield chunk
                    chunk, size = [], 0
            if budget == 0:
                break
        if chunk:
            yield chunk

    def batches(self, sink: ShardWriter | None = None, sink_from: int = 0) -> Iterator[ReadBatch]:
        """The input's batches, in order. With a `sink`, each batch's records are written to
        ``sink`` as shard ``index`` where the batch was converted (a worker process, for a big input:
        the records never travel back), and the batch yields only their count (``ReadBatch.written``);
        batches before `sink_from` (committed before a resume) are converted but not written again."""
        chunks = self._chunks()
        current = next(chunks, None)
        index = 0
        while current is not None:
            # processes start with the first chunk when the format is given (the pool takes a while
            # to start); threads wait for the first chunk to choose the adapter
            if self._parallel_ok() and (index > 0 or self._processes(sink is not None)):
                yield from self._parallel_batches(index, current, chunks, sink, sink_from)
                return
            nxt = next(chunks, None)  # one chunk of lookahead: the last batch flushes the merge buffer
            yield self._convert_batch(current, index, nxt is None, sink, sink_from)
            index, current = index + 1, nxt
        if index == 0:
            yield ReadBatch(0, frame([], self.kind or "pair"), [], 0)

    def _parallel_ok(self) -> bool:
        # vectorised conversion is stateless (no merge buffer), and polars releases the GIL, so
        # chunks can be converted on several threads; the first chunk chose the adapter (or the
        # format is given)
        if self.workers <= 1 or not isinstance(self.source, JsonlSource):
            return False
        if self._adapter is not None:
            cls = type(self._adapter)
        elif self.format_name != "auto":
            cls = FORMATS.get(self.format_name)
        else:
            return False
        return cls.converts_frames() and not cls.merge_adjacent

    def _processes(self, sink: bool = False) -> bool:
        """Whether chunks go to worker processes (``curate.io.pool``): a big input, several workers,
        and enough cores for this use (`sink`: the workers write the shards, records do not come back)."""
        least = min(self.process_min_bytes, self.sink_min_bytes) if sink else self.process_min_bytes
        return self.workers > 1 and (self.source.total or 0) >= least

    def _parallel_batches(self, index: int, first: list, chunks: Iterator[list], sink: ShardWriter | None,
                          sink_from: int) -> Iterator[ReadBatch]:
        """Convert chunks on `workers` threads, or processes for a big input (``curate.io.pool``);
        results come back in order, at most `workers`+1 in flight."""
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor
        from itertools import chain

        if self._processes(sink is not None):
            pool = process_pool(self.workers, self._kw, self.kind)
            submit = lambda c, i: pool.submit(pool_convert, c, i, sink, sink_from)  # noqa: E731
        else:
            pool = ThreadPoolExecutor(self.workers, thread_name_prefix="curate-read")
            submit = lambda c, i: pool.submit(self._convert_batch, c, i, False, sink, sink_from)  # noqa: E731
        with pool:
            window: deque = deque()
            for chunk in chain([first], chunks):
                window.append(submit(chunk, index + len(window)))
                if len(window) > self.workers:
                    yield window.popleft().result()
                    index += 1
            while window:
                yield window.popleft().result()

    def _convert_batch(self, chunk: list, index: int, last: bool, sink: ShardWriter | None,
                       sink_from: int) -> ReadBatch:
        """Chunk → batch `index`; with a `sink`, its records are written there and only counted."""
        records, bad, rows = self._convert(chunk, last)
        if sink is None:
            return ReadBatch(index, records, bad, rows)
        if index >= sink_from:
            sink.write(index, records)
        return ReadBatch(index, records.clear(), bad, rows, written=records.height)

    # ------------------------------------------------------------ conversion
    def _convert(self, chunk: list, last: bool) -> tuple[pl.DataFrame, list[dict], int]:
        chunk = materialize(chunk)  # byte ranges (Spans) → lines, read here
        if any(isinstance(seg, tuple) for seg in chunk):  # JSONL line segments
            fast = self._convert_fast(chunk)
            if fast is not None:
                return fast
            chunk = list(JsonlSource.parse_blocks(chunk))
        records, bad = self._convert_rows(chunk, last)
        return records, bad, len(chunk)

    def _convert_fast(self, chunk: list) -> tuple[pl.DataFrame, list[dict], int] | None:
        """A chunk of JSONL lines → (records, quarantined, rows) with polars, or None for the row path.

        None whenever polars would read a line differently from orjson on the row path: a lone
        surrogate escape (polars writes NUL, orjson rejects the line), a repeated key (polars keeps
        the first value, orjson the last), or a chunk spanning two files (records name their file).
        """
        if any(isinstance(seg, Row) for seg in chunk) or len({path for path, _, _ in chunk}) != 1:
            return None
        read_whole = len(chunk) == 1 and isinstance(chunk[0][2], Lines)  # one range: its text is the join
        if read_whole:  # its lines are cut out of the text only where needed (curate.io.spans)
            lines: Sequence[bytes] = chunk[0][2]
            blank = lines.has_blank()
        else:
            lines = [line for _, _, seg_lines in chunk for line in seg_lines]
            blank = b"" in lines
        if blank:
            return None  # blank lines: let the row path keep exact line numbers
        first = next((r for r in JsonlSource.parse_blocks(chunk) if r.error is None), None)
        if first is None:
            return None
        try:
            adapter = self._adapter_for(first)
        except (RecordError, ConfigError):
            return None  # the row path quarantines it, or raises the ConfigError in order
        if not adapter.converts_frames():
            return None
        blob = lines.text if read_whole else b"\n".join(lines)
        if disagrees(blob, lines):
            return None
        path, start = chunk[0][0], chunk[0][1]

        def slow(i: int) -> list[dict]:  # rows outside the vectorised case, with orjson's types
            return self._convert_row(Row(path, start + i, value=loads(lines[i])))

        try:
            plain = adapter.plain_string_columns
            newlines = lines.newlines if read_whole else None
            if plain and plain_string_rows(blob, plain, len(lines), newlines):  # every line is exactly them
                df = pl.read_ndjson(io.BytesIO(blob), schema=dict.fromkeys(plain, pl.String))
            else:
                df = pl.read_ndjson(io.BytesIO(blob), infer_schema_length=None)
                if not keys_once(blob, tuple(df.columns), df.height):
                    return None  # a repeated key: orjson and polars could disagree
            if df.height != len(lines):
                return None
            good, bad = adapter.convert_frame(df, slow)
        except Exception:  # any parse/shape problem: the row path finds and quarantines the culprit
            return None
        quarantined = [{"file": path, "line": start + row, "reason": reason, "detail": detail,
                        "raw": lines[row].decode("utf-8").rstrip("\r")} for row, reason, detail in bad.iter_rows()]
        return good, quarantined, len(lines)

    def _convert_rows(self, rows: list[Row], last: bool) -> tuple[pl.DataFrame, list[dict]]:
        records: list[dict] = []
        bad: list[dict] = []
        for row in rows:
            if row.error is not None:
                bad.append(self._quarantine(row, row.error))
                continue
            try:
                out = self._convert_row(row)
            except RecordError as err:
                bad.append(self._quarantine(row, err))
                continue
            if self._adapter.merge_adjacent:
                for rec in out:
                    if self._pending is not None and self._pending["id"] == rec["id"]:
                        self._pending["responses"].extend(rec["responses"])
                        continue
                    if self._pending is not None:
                        records.append(self._pending)
                    self._pending = rec
            else:
                records.extend(out)
        if last and self._pending is not None:
            records.append(self._pending)
            self._pending = None
        return frame(records, self.kind or "pair"), bad

    def progress(self) -> tuple[int, int | None, str]:
        return self.source.done, self.source.total, self.source.unit


def _dump(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):
        return "<nested too deep to print>"

