"""Format adapters: one raw row (a dict) from any source → curate records.

An adapter is a class registered in ``curate.registry.FORMATS`` with ``kind`` ("pair" or
"candidate"), ``detect(row) -> bool`` and ``convert(row) -> list[dict]`` (records from
``curate.schema.make_pair`` / ``make_candidate``). ``convert`` raises ``RecordError`` for a bad row;
the reader quarantines it with file, line and reason.

Each adapter declares its options as a pydantic ``Options`` model (unknown keys rejected, so a typo
in ``input.format_options`` is a ConfigError naming the format, the key and the allowed keys), and
``structured``: the fields that may hold JSON (message lists) when the row comes from a source whose
cells are all text (CSV). Only those fields are decoded, so a text cell like ``[2, 3, 5]`` stays text.
"""
from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import BaseModel

from curate.errors import ConfigError, RecordError
from curate.registry import FORMATS, NoOptions, validate_options


class Format:
    name: ClassVar[str] = ""
    kind: ClassVar[str] = "pair"
    # order in which auto-detection tries adapters: more specific layouts first
    priority: ClassVar[int] = 100
    Options: ClassVar[type[BaseModel]] = NoOptions
    structured: ClassVar[tuple[str, ...]] = ()
    # the columns a row must have (shown by `curate steps --formats`; `convert` checks them with `need`)
    required_columns: ClassVar[tuple[str, ...]] = ()
    # the reader merges consecutive records with the same id (layouts with one response per row)
    merge_adjacent: ClassVar[bool] = False
    # formats with ``convert_frame``: the keys of a row that is exactly these, each a string; a chunk
    # of only such lines is parsed with that fixed schema, not one inferred (curate.io.scan)
    plain_string_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, source: str = "", **options: Any):
        self.source = source
        self.opts = validate_options(self.Options, options, what=FORMATS.what, name=self.name,
                                     where="input.format_options/columns")
        self.options = self.opts.model_dump()

    @classmethod
    def detect(cls, row: dict) -> bool:
        return False

    def convert(self, row: dict) -> list[dict]:
        raise NotImplementedError

    def structured_fields(self) -> tuple[str, ...]:
        return self.structured

    def decode_cells(self, row: dict) -> dict:
        """A row of text cells (CSV) → the same row with this format's structured fields decoded."""
        return decode_json_cells(row, self.structured_fields())

    def convert_frame(self, df: Any, slow: Any) -> tuple[Any, Any]:
        """Optional vectorised ``convert`` of a polars frame of rows: (records, bad rows as
        ``row, reason, detail``); ``slow(i)`` converts row i on the row path, for rows outside the
        vectorised case. Formats that implement it are read by the reader's fast path."""
        raise NotImplementedError

    @classmethod
    def converts_frames(cls) -> bool:
        """Whether this format implements ``convert_frame``."""
        return cls.convert_frame is not Format.convert_frame


def decode_json_cells(row: dict, fields: tuple[str, ...] | list[str], strings_too: bool = False) -> dict:
    """Decode the text cells in ``fields`` that hold a JSON list of objects (messages) or an object.

    With ``strings_too``, a JSON list of strings is decoded as well (lists of response variants).
    Anything else (``[2, 3, 5]``, plain text) stays the text it was.
    """
    out = None
    for key in fields:
        v = row.get(key)
        if not isinstance(v, str):
            continue
        s = v.strip()
        if not (s[:1] in "[{" and s[-1:] in "]}"):
            continue
        try:
            decoded = json.loads(s)
        except ValueError:
            continue
        if _structured(decoded, strings_too):
            out = dict(row) if out is None else out
            out[key] = decoded
    return row if out is None else out


def _structured(v: Any, strings_too: bool) -> bool:
    if isinstance(v, dict):
        return True
    if not isinstance(v, list) or not v:
        return False
    return all(isinstance(x, dict) for x in v) or (strings_too and all(isinstance(x, (str, dict, list)) for x in v))


def need(row: dict, key: str) -> Any:
    if key not in row or row[key] is None:
        raise RecordError("missing_field", f"field '{key}' is missing")
    return row[key]


_ORDER: list[type[Format]] = []


def _candidates() -> list[type[Format]]:
    # the registry is complete once the catalog is loaded; sort it once, not per row
    names = FORMATS.names()
    if len(_ORDER) != len(names):
        _ORDER[:] = sorted((cls for _, cls in FORMATS.items()), key=lambda c: c.priority)
    return _ORDER


def find_format(row: dict, text_cells: bool = False) -> type[Format] | None:
    """The highest-priority format whose ``detect`` accepts the row, or None."""
    for cls in _candidates():
        if cls.detect(decode_json_cells(row, cls.structured) if text_cells else row):
            return cls
    return None


def detect_format(row: dict, text_cells: bool = False) -> type[Format]:
    cls = find_format(row, text_cells)
    if cls is None:
        raise ConfigError(
            f"cannot detect the layout of a record with keys {sorted(row)[:12]}; set input.format "
            f"to one of {FORMATS.names()} (use 'mapping' with input.columns for other layouts)"
        )
    return cls
