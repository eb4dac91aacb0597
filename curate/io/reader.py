"""Source rows → validated record batches, with every bad row quarantined.

``Reader.batches()`` yields ``ReadBatch(index, frame, quarantined)``: ``frame`` holds the good
records of the next ``batch_size`` rows in the record schema; ``quarantined`` lists the bad rows as
``{"file", "line", "reason", "detail", "raw"}`` so nothing is lost. Counts by reason go to
``reader.stats`` (a StepStats named ``read``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import polars as pl

from curate.errors import ConfigError, RecordError
from curate.io.formats.base import Format, detect_format
from curate.io.sources import Row, Source, open_source
from curate.registry import FORMATS
from curate.schema import frame
from curate.stats import StepStats


@dataclass
class ReadBatch:
    index: int
    frame: pl.DataFrame
    quarantined: list[dict] = field(default_factory=list)
    rows: int = 0  # source rows this batch consumed (merged candidate rows count once each)


class Reader:
    def __init__(self, path: str | list[str], type: str = "auto", format: str = "auto",
                 columns: dict | None = None, format_options: dict | None = None,
                 split: str = "train", name: str | None = None, limit: int | None = None,
                 source_label: str | None = None, batch_size: int = 1000):
        self.source: Source = open_source(path, type=type, split=split, name=name)
        self.format_name = format
        self.format_kw: dict[str, Any] = dict(format_options or {})
        if columns:
            self.format_kw["columns"] = columns
        self.limit = limit
        self.label = source_label
        self.batch_size = batch_size
        self.stats = StepStats("read")
        self._adapter: Format | None = None
        self.kind: str | None = None
        if format != "auto":
            self.kind = FORMATS.get(format).kind

    # the adapter is built on the first parseable row when the format is auto-detected
    def _adapter_for(self, row: Row) -> Format:
        if self._adapter is None:
            cls = FORMATS.get(self.format_name) if self.format_name != "auto" else detect_format(row.value)
            label = self.label or os.path.basename(row.file)
            try:
                self._adapter = cls(source=label, **self.format_kw)
            except TypeError as e:
                raise ConfigError(f"input.format_options for '{cls.name}': {e}") from e
            self.kind = cls.kind
        return self._adapter

    def _quarantine(self, row: Row, err: RecordError) -> dict:
        self.stats.dropped[err.reason] += 1
        raw = row.raw if row.raw is not None else json.dumps(row.value, ensure_ascii=False, default=str)
        return {"file": row.file, "line": row.line, "reason": err.reason, "detail": err.detail, "raw": raw}

    def rows(self) -> Iterator[Row]:
        for n, row in enumerate(self.source):
            if self.limit is not None and n >= self.limit:
                return
            yield row

    def batches(self) -> Iterator[ReadBatch]:
        records: list[dict] = []
        bad: list[dict] = []
        pending: dict | None = None  # adjacent-merge buffer for candidate formats (HelpSteer2)
        index = 0
        n_rows = 0
        for row in self.rows():
            n_rows += 1
            self.stats.records_in += 1
            if row.error is not None:
                bad.append(self._quarantine(row, row.error))
            else:
                try:
                    adapter = self._adapter_for(row)
                    out = adapter.convert(row.value)
                except RecordError as err:
                    bad.append(self._quarantine(row, err))
                    out = []
                for rec in out:
                    if getattr(adapter, "merge_adjacent", False):
                        if pending is not None and pending["id"] == rec["id"]:
                            pending["responses"].extend(rec["responses"])
                            continue
                        if pending is not None:
                            records.append(pending)
                        pending = rec
                    else:
                        records.append(rec)
            if n_rows >= self.batch_size:
                yield self._emit(index, records, bad, n_rows)
                index, records, bad, n_rows = index + 1, [], [], 0
        if pending is not None:
            records.append(pending)
        if records or bad or n_rows or index == 0:
            yield self._emit(index, records, bad, n_rows)

    def _emit(self, index: int, records: list[dict], bad: list[dict], rows: int) -> ReadBatch:
        self.stats.records_out += len(records)
        return ReadBatch(index, frame(records, self.kind or "pair"), bad, rows)

    def progress(self) -> tuple[int, int | None, str]:
        return self.source.done, self.source.total, self.source.unit
