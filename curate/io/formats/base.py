from __future__ import annotations

from typing import Any, ClassVar

from curate.errors import ConfigError, RecordError
from curate.registry import FORMATS


class Format:
    name: ClassVar[str] = ""
    kind: ClassVar[str] = "pair"
    # order in which auto-detection tries adapters: more specific layouts first
    priority: ClassVar[int] = 100
    # the reader merges consecutive records with the same id (layouts with one response per row)
    merge_adjacent: ClassVar[bool] = False

    def __init__(self, source: str = "", **options: Any):
        self.source = source
        self.options = options

    @classmethod
    def detect(cls, row: dict) -> bool:
        return False

    def convert(self, row: dict) -> list[dict]:
        raise NotImplementedError

    def convert_frame(self, df: Any) -> tuple[Any, Any]:
        """Optional vectorised ``convert`` of a polars frame of rows: (records, bad rows as
        ``row, reason, detail``). Formats that implement it are read by the reader's fast path."""
        raise NotImplementedError

    @classmethod
    def converts_frames(cls) -> bool:
        """Whether this format implements ``convert_frame``."""
        return cls.convert_frame is not Format.convert_frame


def need(row: dict, key: str) -> Any:
    if key not in row or row[key] is None:
        raise RecordError("missing_field", f"field '{key}' is missing")
    return row[key]


def detect_format(row: dict) -> type[Format]:
    candidates = sorted((cls for _, cls in FORMATS.items()), key=lambda c: c.priority)
    for cls in candidates:
        if cls.detect(row):
            return cls
    raise ConfigError(
        f"cannot detect the layout of a record with keys {sorted(row)[:12]}; set input.format "
        f"to one of {FORMATS.names()} (use 'mapping' with input.columns for other layouts)"
    )
