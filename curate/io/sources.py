"""Raw rows from files and datasets, each with its location, before any format is applied.

A source yields ``Row(file, line, value, raw, error)``: ``value`` is the parsed dict, or ``error``
says why the row could not be parsed (invalid JSON, not UTF-8, not an object). Parse errors are
rows too, so the reader can quarantine them with their line number and go on.

Supported: JSONL (plain or .gz), Parquet, CSV, plain text (one prompt per line, ``.txt``) and Hugging
Face ``datasets`` (a folder written by ``save_to_disk``, any path ``load_dataset`` reads, or a Hub id,
streamed).
"""

from __future__ import annotations

import csv
import glob
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from curate.errors import InputError, RecordError

try:  # orjson is ~5x faster than json on the ingest hot path
    import orjson

    _loads = orjson.loads
    _JSONError: tuple = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover
    _loads = json.loads
    _JSONError = (ValueError,)


@dataclass
class Row:
    file: str
    line: int
    value: dict | None = None
    raw: str | None = None
    error: RecordError | None = None


def _raw_text(b: bytes) -> str:
    return b.decode("utf-8", errors="backslashreplace").rstrip("\n")


class Source:
    """Iterates rows of one or more files; ``done``/``total`` report progress in bytes or rows."""

    unit = "B"

    def __init__(self, paths: list[str]):
        self.paths = paths
        self.done = 0
        self.total: int | None = None

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError


class JsonlSource(Source):
    def __init__(self, paths: list[str]):
        super().__init__(paths)
        self.total = sum(os.path.getsize(p) for p in paths)

    BLOCK = 8 << 20  # bytes read at a time; lines are split in C, not in a Python loop

    def __iter__(self) -> Iterator[Row]:
        return self.parse_blocks(self.blocks())

    @classmethod
    def parse_blocks(cls, blocks: Iterable[tuple[str, int, list[bytes]] | Row]) -> Iterator[Row]:
        """Blocks (or chunks of them) → one Row per non-blank line, in order."""
        for block in blocks:
            if isinstance(block, Row):
                yield block
                continue
            path, first, lines = block
            for offset, line in enumerate(lines):
                if line.strip():
                    yield cls._parse(path, first + offset, line)

    def blocks(self) -> Iterator[tuple[str, int, list[bytes]] | Row]:
        """Raw lines in blocks: (file, number of the first line, lines without their newline).

        Blank lines are included (so line numbers stay exact); a corrupt or truncated file ends
        with an error Row after everything that could be read.
        """
        base = 0
        for path in self.paths:
            with open(path, "rb") as fh:
                stream = gzip.GzipFile(fileobj=fh) if path.endswith(".gz") else fh
                carry, lineno, error = b"", 1, None
                try:
                    while data := stream.read(self.BLOCK):
                        lines = (carry + data).split(b"\n")
                        carry = lines.pop()
                        if lines:
                            yield path, lineno, lines
                            lineno += len(lines)
                        self.done = base + fh.tell()
                except (OSError, EOFError) as e:  # truncated or corrupt gzip: keep what can be read
                    error = RecordError("corrupt_file", str(e))
                    carry = b""
                    yield from self._salvage(path, lineno)
                if carry:
                    yield path, lineno, [carry]
                if error is not None:
                    yield Row(path, -1, raw="", error=error)
            base += os.path.getsize(path)
            self.done = base

    @staticmethod
    def _salvage(path: str, from_line: int) -> Iterator[tuple[str, int, list[bytes]]]:
        """Line by line from `from_line` until the corruption: a block read loses its whole block."""
        lines: list[bytes] = []
        with gzip.open(path, "rb") as stream:
            try:
                for lineno, line in enumerate(stream, 1):
                    if lineno >= from_line and line.endswith(b"\n"):
                        lines.append(line[:-1])
            except (OSError, EOFError):
                pass
        if lines:
            yield path, from_line, lines

    @staticmethod
    def _parse(path: str, lineno: int, line: bytes) -> Row:
        try:
            value = _loads(line)
        except _JSONError as e:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as ue:
                return Row(path, lineno, raw=_raw_text(line),
                           error=RecordError("non_utf8", f"byte {ue.start} is not valid UTF-8"))
            return Row(path, lineno, raw=_raw_text(line), error=RecordError("invalid_json", str(e)[:200]))
        if not isinstance(value, dict):
            return Row(path, lineno, raw=_raw_text(line),
                       error=RecordError("not_an_object", f"line is a JSON {type(value).__name__}"))
        return Row(path, lineno, value=value)


class ParquetSource(Source):
    unit = "rows"

    def __init__(self, paths: list[str]):
        super().__init__(paths)
        import pyarrow.parquet as pq

        self._pq = pq
        self.total = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)

    def __iter__(self) -> Iterator[Row]:
        for path in self.paths:
            n = 0
            for batch in self._pq.ParquetFile(path).iter_batches(batch_size=4096):
                for value in batch.to_pylist():
                    n += 1
                    self.done += 1
                    yield Row(path, n, value=value)


class TextSource(Source):
    """Plain text, one prompt per line (``.txt``): each non-blank line becomes {"prompt": line}."""

    def __init__(self, paths: list[str]):
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
                        yield Row(path, lineno, raw=_raw_text(raw),
                                  error=RecordError("non_utf8", f"byte {e.start} is not valid UTF-8"))
                        continue
                    if line:
                        yield Row(path, lineno, value={"prompt": line})


class CsvSource(Source):
    """CSV with a header row. Cells holding JSON arrays/objects (message lists) are decoded."""

    def __init__(self, paths: list[str]):
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
        value: dict[str, Any] = {}
        for k, v in rec.items():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return Row(path, line, raw=raw.encode("utf-8", "backslashreplace").decode(),
                           error=RecordError("non_utf8", f"column '{k}' is not valid UTF-8"))
            s = v.strip()
            if s[:1] in "[{" and s[-1:] in "]}":
                try:
                    v = json.loads(s)
                except ValueError:
                    pass
            value[k] = v
        return Row(path, line, value=value)


class HFSource(Source):
    """Hugging Face datasets: save_to_disk folders, local load_dataset paths, or Hub ids (streamed)."""

    unit = "rows"

    def __init__(self, path: str, split: str = "train", name: str | None = None, streaming: bool = True):
        super().__init__([path])
        self.split, self.name, self.streaming = split, name, streaming

    def _dataset(self):
        import datasets

        p = Path(self.path)
        if p.is_dir() and ((p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists()
                           or (p / "state.json").exists()):
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                if self.split not in ds:
                    raise InputError(f"{p}: no split '{self.split}'; it has {list(ds)}")
                ds = ds[self.split]
            self.total = len(ds)
            return ds
        try:
            # a local folder/file or a Hub id; streaming keeps memory flat on large Hub datasets
            if p.is_file():
                builder = {"jsonl": "json", "parquet": "parquet", "csv": "csv"}[detect_type(str(p))]
                return datasets.load_dataset(builder, data_files=str(p), split=self.split, streaming=self.streaming)
            return datasets.load_dataset(self.path, self.name, split=self.split, streaming=self.streaming)
        except Exception as e:  # datasets raises many types; all mean "cannot open"
            raise InputError(
                f"cannot load dataset '{self.path}' (split={self.split}): {e}. Offline? Set "
                f"HF_HUB_OFFLINE=1 and point input.path at a local copy."
            ) from e

    @property
    def path(self) -> str:
        return self.paths[0]

    def __iter__(self) -> Iterator[Row]:
        for i, value in enumerate(self._dataset(), 1):
            self.done = i
            yield Row(self.path, i, value=dict(value))


def expand(path: str | list[str]) -> list[str]:
    paths = path if isinstance(path, list) else [path]
    out: list[str] = []
    for p in paths:
        if any(ch in p for ch in "*?["):
            out.extend(sorted(glob.glob(p)))
        elif os.path.isdir(p) and not _is_hf_dir(p):
            out.extend(sorted(str(f) for f in Path(p).iterdir() if detect_type(str(f)) in ("jsonl", "parquet", "csv", "text")))
        else:
            out.append(p)
    return out


def _is_hf_dir(p: str) -> bool:
    return any((Path(p) / f).exists() for f in ("dataset_info.json", "dataset_dict.json", "state.json"))


def detect_type(path: str) -> str:
    name = path.lower()
    for ext, kind in ((".jsonl", "jsonl"), (".jsonl.gz", "jsonl"), (".json", "jsonl"), (".json.gz", "jsonl"),
                      (".ndjson", "jsonl"), (".parquet", "parquet"), (".csv", "csv"), (".txt", "text")):
        if name.endswith(ext):
            return kind
    return "hf"


def open_source(path: str | list[str], type: str = "auto", split: str = "train",
                name: str | None = None) -> Source:
    if type == "hf":
        return HFSource(path if isinstance(path, str) else path[0], split=split, name=name)
    paths = expand(path)
    if not paths:
        raise InputError(f"no input files match {path!r}")
    kind = type if type != "auto" else detect_type(paths[0])
    if kind != "hf":
        for p in paths:
            if not os.path.exists(p):
                raise InputError(f"input file not found: {p}")
    if kind == "jsonl":
        return JsonlSource(paths)
    if kind == "parquet":
        return ParquetSource(paths)
    if kind == "csv":
        return CsvSource(paths)
    if kind == "text":
        return TextSource(paths)
    if kind == "hf":
        return HFSource(paths[0], split=split, name=name)
    raise InputError(f"unknown input type '{type}'; use jsonl, parquet, csv, text or hf")
