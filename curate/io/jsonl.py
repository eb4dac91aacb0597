"""JSON Lines (plain, ``.gz``) and JSON files (an array of objects, or JSONL named ``.json``).

``JsonlSource.blocks()`` yields raw lines in blocks, ``(file, number of the first line, lines)``, so
the reader can hand whole blocks to polars; ``parse_blocks`` turns them into ``Row``s. A ``.gz`` is
inflated with ``zlib`` directly, so a corrupt or truncated stream keeps every complete line before
the damage, quarantines the half-read line after it as ``truncated_input`` and ends with one
``corrupt_file`` row, instead of raising ``zlib.error`` / ``EOFError`` into the run.

``JsonSource`` reads a ``.json`` / ``.json.gz`` whose first non-blank byte is ``[`` as one JSON array
of records (each row's ``line`` is its 1-based index in the array); any other ``.json`` is JSONL.
An array is parsed whole (orjson has no streaming parser and ijson is not a dependency), so it is
limited to ``JsonSource.MAX_ARRAY_BYTES`` of JSON text; convert bigger ones to JSONL.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator

import numpy as np

from curate.errors import InputError, RecordError
from curate.io.rows import JSONError, Row, Source, loads, raw_text
from curate.io.spans import LineIndex

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw deflate


class JsonlSource(Source):
    """One JSON object per line; blank lines are skipped but counted, so line numbers stay exact."""

    type_name = "jsonl"
    extensions = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
    BLOCK = 8 << 20  # bytes read at a time; lines are split in C, not in a Python loop

    def __init__(self, paths: list[str], **_: object):
        super().__init__(paths)
        self.total = sum(os.path.getsize(p) for p in paths)

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

    def blocks(self, spans: bool = False) -> Iterator[tuple[str, int, list[bytes] | LineIndex] | Row]:
        """Raw lines in blocks: (file, number of the first line, lines without their newline).

        Blank lines are included (so line numbers stay exact); a corrupt or truncated file ends
        with its half-read line (``truncated_input``) and a ``corrupt_file`` Row. With `spans`, a
        plain (not compressed) JSON Lines file gives a ``LineIndex`` in place of each list of lines:
        where they end, for chunks that are read where they are converted (``curate.io.spans``).
        """
        base = 0
        for path in self.paths:
            if spans and self._plain_lines(path):
                yield from self._file_index(path, base)
            else:
                yield from self._file_blocks(path, base)
            base += os.path.getsize(path)
            self.done = base

    def _plain_lines(self, path: str) -> bool:
        """Whether `path` is JSON Lines as it lies on disk (byte offsets address its lines)."""
        return not path.endswith(".gz")

    def _file_index(self, path: str, base: int) -> Iterator[tuple[str, int, LineIndex]]:
        """`_file_blocks` of a plain file, with the lines' end offsets in place of the lines."""
        with open(path, "rb") as fh:
            start, offset, lineno = 0, 0, 1
            for piece in iter(lambda: fh.read(self.BLOCK), b""):
                index = LineIndex.of_block(path, start, offset, piece)
                if len(index):
                    yield path, lineno, index
                    lineno, start = lineno + len(index), int(index.ends[-1])
                offset += len(piece)
                self.done = base + offset
        if offset > start:  # the last line has no newline
            yield path, lineno, LineIndex(path, start, np.array([offset]))

    def _file_blocks(self, path: str, base: int) -> Iterator[tuple[str, int, list[bytes]] | Row]:
        with open(path, "rb") as fh:
            data = _inflate(fh) if path.endswith(".gz") else iter(lambda: fh.read(self.BLOCK), b"")
            carry, lineno, error = b"", 1, None
            try:
                for piece in data:
                    lines = (carry + piece).split(b"\n")
                    carry = lines.pop()
                    if lines:
                        yield path, lineno, lines
                        lineno += len(lines)
                    self.done = base + fh.tell()
            except _Damaged as e:
                error = RecordError("corrupt_file", f"{os.path.basename(path)}: {e}")
        if carry and error is not None and carry.strip():
            yield Row(path, lineno, raw=raw_text(carry),
                      error=RecordError("truncated_input", "the file ends inside this line; it was not read whole"))
        elif carry:
            yield path, lineno, [carry]
        if error is not None:
            yield Row(path, -1, raw="", error=error)

    @staticmethod
    def _parse(path: str, lineno: int, line: bytes) -> Row:
        return parse_value(path, lineno, line, "line")


class _Damaged(Exception):
    """A compressed stream is corrupt or truncated; everything inflated before it was yielded."""


def _inflate(fh, chunk: int = 1 << 20) -> Iterator[bytes]:
    """Inflate a (multi-member) gzip stream, yielding its data; raise _Damaged after the last good byte.

    On a corrupt chunk the inflater is rewound and fed the chunk in small pieces, so only the data
    within a few hundred compressed bytes of the damage is lost, not the whole chunk.
    """
    d, open_member, pending = zlib.decompressobj(_GZIP_WBITS), False, b""
    while comp := pending or fh.read(chunk):
        pending, open_member = b"", True
        snap = d.copy()
        try:
            out = d.decompress(comp)
        except zlib.error:
            d = snap
            for i in range(0, len(comp), 256):
                try:
                    out = d.decompress(comp[i:i + 256])
                except zlib.error as e:
                    raise _Damaged(f"corrupt gzip data ({e}); the lines before it were read") from None
                if out:
                    yield out
            raise _Damaged("corrupt gzip data") from None  # pragma: no cover - the piecewise feed raises first
        if out:
            yield out
        if d.eof:  # end of one gzip member; concatenated members follow in unused_data
            pending, d, open_member = d.unused_data, zlib.decompressobj(_GZIP_WBITS), False
            if not pending.strip(b"\x00"):  # trailing zero padding is not another member
                pending = b""
    if open_member:
        raise _Damaged("compressed file ended before the end-of-stream marker (truncated download?)")


def parse_value(path: str, lineno: int, text: bytes, what: str) -> Row:
    """One JSON text → a Row with a dict value, or an error Row (invalid_json, non_utf8, not_an_object)."""
    try:
        value = loads(text)
    except JSONError as e:
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as ue:
            return Row(path, lineno, raw=raw_text(text),
                       error=RecordError("non_utf8", f"byte {ue.start} is not valid UTF-8"))
        return Row(path, lineno, raw=raw_text(text), error=RecordError("invalid_json", str(e)[:200]))
    if not isinstance(value, dict):
        return Row(path, lineno, raw=raw_text(text),
                   error=RecordError("not_an_object", f"{what} is a JSON {type(value).__name__}"))
    return Row(path, lineno, value=value)


class JsonSource(JsonlSource):
    """``.json`` / ``.json.gz``: a JSON array of objects (row ``line`` = 1-based index), else JSONL."""

    type_name = "json"
    extensions = (".json", ".json.gz")
    MAX_ARRAY_BYTES = 2 << 30  # a whole-file parse holds the text and the objects in memory

    def _plain_lines(self, path: str) -> bool:
        return super()._plain_lines(path) and not _starts_with_bracket(path)

    def _file_blocks(self, path: str, base: int) -> Iterator[tuple[str, int, list[bytes]] | Row]:
        if not _starts_with_bracket(path):
            yield from super()._file_blocks(path, base)
            return
        text, error = self._read_whole(path)
        if error is None:
            yield from self._array_rows(path, text)
        else:
            yield Row(path, -1, raw="", error=error)
        self.done = base + os.path.getsize(path)

    def _read_whole(self, path: str) -> tuple[bytes, RecordError | None]:
        parts: list[bytes] = []
        size, error = 0, None
        with open(path, "rb") as fh:
            data = _inflate(fh) if path.endswith(".gz") else iter(lambda: fh.read(self.BLOCK), b"")
            try:
                for piece in data:
                    parts.append(piece)
                    size += len(piece)
                    if size > self.MAX_ARRAY_BYTES:
                        raise InputError(
                            f"{path}: a JSON array over {self.MAX_ARRAY_BYTES >> 20} MiB is not read whole; "
                            f"convert it to JSON Lines (one object per line, .jsonl) and read that")
            except _Damaged as e:
                error = RecordError("corrupt_file", f"{os.path.basename(path)}: {e}; a JSON array cannot be "
                                                    f"read in part")
        return b"".join(parts), error

    @staticmethod
    def _array_rows(path: str, text: bytes) -> Iterator[Row]:
        try:
            items = loads(text)
        except JSONError as e:
            yield Row(path, -1, raw="", error=RecordError(
                "invalid_json", f"{os.path.basename(path)} is not a valid JSON array: {str(e)[:200]}"))
            return
        if not isinstance(items, list):  # pragma: no cover - the first byte was '['
            items = [items]
        for i, value in enumerate(items, 1):
            if isinstance(value, dict):
                yield Row(path, i, value=value)
            else:
                yield Row(path, i, raw=_dump(value), error=RecordError(
                    "not_an_object", f"array item is a JSON {type(value).__name__}"))


def _dump(value: object) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False, default=str)[:10_000]
    except (RecursionError, ValueError):
        return "<nested too deep to print>"


def _starts_with_bracket(path: str) -> bool:
    """Whether the first non-blank byte of the (inflated) file is '[': a JSON array, not JSONL."""
    with open(path, "rb") as fh:
        try:
            for piece in (_inflate(fh, 1 << 16) if path.endswith(".gz") else iter(lambda: fh.read(1 << 16), b"")):
                head = piece.lstrip(b" \t\r\n\xef\xbb\xbf")
                if head:
                    return head[:1] == b"["
        except _Damaged:
            return False
    return False
