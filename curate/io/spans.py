"""Lines of a plain JSONL file as byte ranges, so a worker process is sent a few numbers, not the lines.

For a big input the reader converts chunks in worker processes (``curate.io.pool``). Splitting a
chunk's lines in the parent and pickling them through a pipe cost the parent (one interpreter,
under the GIL) about as much as a worker's conversion, so the parent only finds where lines end
(``JsonlSource.blocks(spans=True)``: numpy over the blocks it reads for progress anyway) and a chunk
segment carries a ``Span`` (file, byte range, line count) instead of its lines. Whoever converts the
chunk reads the range and splits it into exactly the lines ``JsonlSource.blocks()`` gives: blank
lines, a last line without a newline and ``\\r`` are kept, so line numbers and raw text are the same.

    LineIndex   where the lines of one read block end; sliced like that block's list of lines → Span
    Span        one range of whole lines; ``read()`` → the lines (``Lines``: the text as read, split on demand)
    materialize a chunk with Spans → the same chunk with Lines
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from curate.errors import InputError
from curate.io.scan import positions


class Lines(Sequence):
    """Lines read as one range: ``text``, the bytes as read (the lines joined by newlines, and maybe a
    newline after the last), and ``newlines``, the offset of every newline in it. A line is cut out of
    ``text`` only when asked for: the fast path parses ``text`` whole and needs a few lines at most
    (the first, and any it sends to the row path), so splitting 20k lines it never reads (~15 ms of a
    29 MB chunk, and as many objects for the collector) is left to the row path, which iterates."""

    def __init__(self, text: bytes, newlines: np.ndarray):
        self.text, self.newlines = text, newlines
        # a last line without a newline ends at the end of the text
        self._count = len(newlines) + (1 if text and not text.endswith(b"\n") else 0)

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        if i < 0:
            i += self._count
        if not 0 <= i < self._count:
            raise IndexError(i)
        start = int(self.newlines[i - 1]) + 1 if i else 0
        return self.text[start:int(self.newlines[i]) if i < len(self.newlines) else len(self.text)]

    def __iter__(self) -> Iterator[bytes]:
        return (self[i] for i in range(self._count))

    def has_blank(self) -> bool:
        """Whether a line is empty: a newline first, or right after another (a last line without a
        newline is never empty)."""
        nl = self.newlines
        return bool(len(nl)) and bool(nl[0] == 0 or (np.diff(nl) == 1).any())


@dataclass(frozen=True)
class Span:
    """``count`` whole lines of ``path``: bytes ``start`` to ``end`` (after the last one's newline, or EOF)."""

    path: str
    start: int
    end: int
    count: int

    def read(self) -> Lines:
        """The lines without their newlines; their ``text`` is the range as read."""
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            data = fh.read(self.end - self.start)
        out = Lines(data, positions(np.frombuffer(data, np.uint8), b"\n"))
        if len(data) != self.end - self.start or len(out) != self.count:
            raise InputError(f"{self.path} changed while it was being read (lines from byte {self.start} are not "
                             f"where they were); let it finish being written, then run again")
        return out


class LineIndex:
    """The lines of one block read from ``path``: line i ends at ``ends[i]`` (the offset just past its
    newline); the first starts at ``start``. ``len()`` and slicing stand in for the block's list of
    lines in the reader's chunking; a slice is a ``Span``."""

    def __init__(self, path: str, start: int, ends: np.ndarray):
        self.path, self.start, self.ends = path, start, ends

    @classmethod
    def of_block(cls, path: str, start: int, offset: int, block: bytes) -> LineIndex:
        """The lines that end in `block` (read at `offset`); the first began at `start`, maybe in an earlier block."""
        return cls(path, start, np.flatnonzero(np.frombuffer(block, np.uint8) == 10) + (offset + 1))

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, s: slice) -> Span:
        a, b = s.start or 0, min(len(self.ends), len(self.ends) if s.stop is None else s.stop)
        begin = self.start if a == 0 else int(self.ends[a - 1])
        return Span(self.path, begin, int(self.ends[b - 1]), b - a)


def materialize(chunk: list) -> list:
    """A chunk of segments ``(file, first line, lines | Span)`` and Rows → the chunk with every Span
    read into its ``Lines``; adjacent Spans of one file (a chunk crosses read blocks) are read as one."""
    merged: list = []
    for seg in chunk:
        prev = merged[-1] if merged else None
        if (isinstance(seg, tuple) and isinstance(seg[2], Span) and isinstance(prev, tuple)
                and isinstance(prev[2], Span) and prev[2].path == seg[2].path and prev[2].end == seg[2].start):
            p = prev[2]
            merged[-1] = (prev[0], prev[1], Span(p.path, p.start, seg[2].end, p.count + seg[2].count))
        else:
            merged.append(seg)
    return [(seg[0], seg[1], seg[2].read()) if isinstance(seg, tuple) and isinstance(seg[2], Span) else seg
            for seg in merged]
