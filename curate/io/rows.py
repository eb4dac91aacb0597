"""What every source yields: ``Row(file, line, value, raw, error)``, and the ``Source`` base class.

``value`` is the parsed dict, or ``error`` says why the row could not be parsed (invalid JSON, not
UTF-8, not an object, truncated input). Parse errors are rows too, so the reader can quarantine
them with their line number and go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from curate.errors import RecordError

try:  # orjson is ~5x faster than json on the ingest hot path
    import orjson

    loads = orjson.loads
    JSONError: tuple = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover
    loads = json.loads
    JSONError = (ValueError,)


@dataclass
class Row:
    file: str
    line: int
    value: dict | None = None
    raw: str | None = None
    error: RecordError | None = None
    # CSV cells are all text; the format decodes the ones it expects to hold JSON (message lists)
    text_cells: bool = False


def raw_text(b: bytes) -> str:
    return b.decode("utf-8", errors="backslashreplace").rstrip("\n")


class Source:
    """Iterates rows of one or more files; ``done``/``total`` report progress in bytes or rows.

    ``type_name`` is the ``input.type`` that selects the class, ``extensions`` the file name endings
    that select it under ``type: auto`` (see ``curate.io.sources.SOURCES``).
    """

    type_name: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = ()
    unit = "B"

    def __init__(self, paths: list[str]):
        self.paths = paths
        self.done = 0
        self.total: int | None = None

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError
