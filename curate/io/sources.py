"""Raw rows from files and datasets, each with its location, before any format is applied.

A source yields ``Row(file, line, value, raw, error)`` (``curate.io.rows``). File types come from one
registry, ``SOURCES`` (``input.type`` → Source class); under ``type: auto`` a file's extension picks
the class (each class lists its ``extensions``):

    jsonl    .jsonl .jsonl.gz .ndjson .ndjson.gz   one JSON object per line      (curate.io.jsonl)
    json     .json .json.gz                        a JSON array of objects, or JSON Lines
    parquet  .parquet                              one record per row
    csv      .csv                                  a header row; cells are text
    text     .txt                                  one prompt per non-blank line
    export   a folder written by ``curate export`` every split's Parquet shards, with ``split``
    hf       anything else                         Hugging Face ``datasets`` (curate.io.hf)
"""

from __future__ import annotations

import csv
import glob
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from curate.errors import InputError, RecordError
from curate.io.hf import HFSource, is_hf_dir
from curate.io.jsonl import JsonlSource, JsonSource
from curate.io.rows import Row, Source, raw_text
from curate.schema import dumps

__all__ = ["Row", "Source", "JsonlSource", "JsonSource", "ParquetSource", "CsvSource", "TextSource",
           "ExportSource", "HFSource", "SOURCES", "open_source", "detect_type", "expand"]


class ParquetSource(Source):
    type_name = "parquet"
    extensions = (".parquet",)
    unit = "rows"

    def __init__(self, paths: list[str], **_: object):
        super().__init__(paths)
        import pyarrow.parquet as pq

        self._pq = pq
        self.total = sum(self._open(p).metadata.num_rows for p in paths)

    def _open(self, path: str):
        try:
            return self._pq.ParquetFile(path)
        except Exception as e:  # ArrowInvalid / OSError: a truncated or non-Parquet file has no footer
            raise InputError(f"{path}: not a readable Parquet file ({str(e)[:160]}); is it truncated? "
                             f"Re-download or re-export it") from None

    def __iter__(self) -> Iterator[Row]:
        for path in self.paths:
            yield from self._rows(path, {})

    def _rows(self, path: str, extra: dict) -> Iterator[Row]:
        n = 0
        try:
            for batch in self._open(path).iter_batches(batch_size=4096):
                for value in batch.to_pylist():
                    n += 1
                    self.done += 1
                    yield Row(path, n, value={**value, **extra} if extra else value)
        except InputError:
            raise
        except Exception as e:  # a corrupt page: keep the rows before it, quarantine the rest as one row
            yield Row(path, -1, raw="", error=RecordError("corrupt_file", f"{os.path.basename(path)}: {str(e)[:200]}"))


_SHARD = re.compile(r"^(?P<split>.+)-\d{5}-of-\d{5}\.parquet$")


class ExportSource(ParquetSource):
    """A folder written by ``curate export``: every split's ``data/{split}-NNNNN-of-NNNNN.parquet``.

    Each row gets a ``split`` field (formats keep it in ``metadata``) unless it already has one.
    """

    type_name = "export"
    extensions = ()

    def __init__(self, paths: list[str], **_: object):
        folder = Path(paths[0])
        shards = sorted(str(f) for f in (folder / "data").glob("*.parquet") if _SHARD.match(f.name))
        if not shards:
            raise InputError(f"{folder}: an export folder without data/*-of-*.parquet shards; re-run curate export")
        super().__init__(shards)
        self.splits = sorted({_SHARD.match(os.path.basename(s))["split"] for s in shards})

    def __iter__(self) -> Iterator[Row]:
        for path in self.paths:
            split = _SHARD.match(os.path.basename(path))["split"]
            for row in self._rows(path, {}):
                if row.value is not None:
                    _mark_split(row.value, split)
                yield row


def _mark_split(value: dict, split: str) -> None:
    """Record the shard's split on an exported row: in its ``metadata`` JSON when the layout carries
    one (curate's own columns are read by the native format, which keeps only that field), else as a
    ``split`` field that the other formats keep in metadata."""
    meta = value.get("metadata")
    if isinstance(meta, str):
        try:
            decoded = json.loads(meta) if meta.strip() else {}
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            decoded.setdefault("split", split)
            value["metadata"] = dumps(decoded)
            return
    value.setdefault("split", split)


def is_export_dir(p: str) -> bool:
    return (Path(p) / "export.json").is_file() and (Path(p) / "data").is_dir()


class TextSource(Source):
    """Plain text, one prompt per line (``.txt``): each non-blank line becomes {"prompt": line}."""

    type_name = "text"
    extensions = (".txt",)

    def __init__(self, paths: list[str], **_: object):
        super().__init__(paths)
        self.total = sum(os.path.getsize(p) for p in paths)

    def __iter__(self) -> Iterator[Row]:
        for path in self.paths:
            with open(path, "rb") as fh:
                for lineno, raw in enumerate(fh, 1):
                    self.done += len(raw)
                    try:
                        line = raw.decode("utf-8").strip()
                    except UnicodeDecodeError as e:
                        yield Row(path, lineno, raw=raw_text(raw),
                                  error=RecordError("non_utf8", f"byte {e.start} is not valid UTF-8"))
                        continue
                    if line:
                        yield Row(path, lineno, value={"prompt": line})


class CsvSource(Source):
    """CSV with a header row. Cells stay text (``Row.text_cells``): the format decodes the columns
    it expects to hold JSON message lists, so a cell like ``[2, 3, 5]`` elsewhere stays a string."""

    type_name = "csv"
    extensions = (".csv",)

    def __init__(self, paths: list[str], **_: object):
        super().__init__(paths)
        self.total = sum(os.path.getsize(p) for p in paths)
        csv.field_size_limit(1 << 30)

    def __iter__(self) -> Iterator[Row]:
        base = 0
        for path in self.paths:
            with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                reader = csv.DictReader(fh)
                line = 1
                for rec in reader:
                    start, line = line + 1, reader.line_num
                    self.done = base + fh.buffer.tell() if hasattr(fh, "buffer") else self.done
                    yield self._row(path, start, rec)
            base += os.path.getsize(path)
            self.done = base

    @staticmethod
    def _row(path: str, line: int, rec: dict) -> Row:
        raw = json.dumps(rec, ensure_ascii=False, default=str)
        if None in rec or any(v is None for v in rec.values()):
            return Row(path, line, raw=raw.encode("utf-8", "backslashreplace").decode(),
                       error=RecordError("bad_csv_row", "row has a different number of cells than the header"))
        for k, v in rec.items():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return Row(path, line, raw=raw.encode("utf-8", "backslashreplace").decode(),
                           error=RecordError("non_utf8", f"column '{k}' is not valid UTF-8"))
        return Row(path, line, value=dict(rec), text_cells=True)


# input.type → Source class; under type: auto the extensions pick one (longest ending first)
SOURCES: dict[str, type[Source]] = {cls.type_name: cls for cls in (
    JsonlSource, JsonSource, ParquetSource, CsvSource, TextSource, ExportSource, HFSource)}
_BY_EXTENSION = sorted(((ext, cls.type_name) for cls in SOURCES.values() for ext in cls.extensions),
                       key=lambda e: -len(e[0]))


def detect_type(path: str) -> str:
    """The source type for a path under ``type: auto``: by extension, export folder, else ``hf``."""
    name = path.lower()
    for ext, kind in _BY_EXTENSION:
        if name.endswith(ext):
            return kind
    return "export" if is_export_dir(path) else "hf"


def expand(path: str | list[str]) -> list[str]:
    paths = path if isinstance(path, list) else [path]
    out: list[str] = []
    for p in paths:
        if any(ch in p for ch in "*?["):
            out.extend(sorted(glob.glob(p)))
        elif os.path.isdir(p) and not is_hf_dir(p) and not is_export_dir(p):
            out.extend(sorted(str(f) for f in Path(p).iterdir() if detect_type(str(f)) in _FILE_TYPES))
        else:
            out.append(p)
    return out


_FILE_TYPES = {kind for _, kind in _BY_EXTENSION}


def open_source(path: str | list[str], type: str = "auto", split: str = "train",
                name: str | None = None) -> Source:
    if type != "auto" and type not in SOURCES:
        raise InputError(f"unknown input type '{type}'; use auto or one of {', '.join(SOURCES)}")
    if type == "hf":
        return HFSource([path if isinstance(path, str) else path[0]], split=split, name=name)
    paths = expand(path)
    if not paths:
        raise InputError(f"no input files match {path!r}")
    kind = type if type != "auto" else detect_type(paths[0])
    if kind not in ("hf", "export"):
        for p in paths:
            if not os.path.exists(p):
                raise InputError(f"input file not found: {p}")
    if kind == "hf":
        paths = paths[:1]
    return SOURCES[kind](paths, split=split, name=name)
