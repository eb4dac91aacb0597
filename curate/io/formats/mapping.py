"""Generic column mapping for any other layout.

Config: ``format: mapping`` and ``columns: {prompt: question, chosen: good, rejected: bad,
system: sys_prompt}``; ``system`` is optional. Unmapped columns are kept in metadata.
"""

from __future__ import annotations

from curate.errors import ConfigError
from curate.io.formats.base import Format, need
from curate.registry import FORMATS
from curate.schema import make_pair


@FORMATS.register()
class MappingFormat(Format):
    name = "mapping"
    priority = 1000  # never auto-detected: it needs columns from the config

    def __init__(self, source: str = "", columns: dict | None = None, **options):
        super().__init__(source, **options)
        cols = dict(columns or {})
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in cols]
        if missing:
            raise ConfigError(f"format 'mapping' needs input.columns for {missing}")
        self.columns = cols

    def convert(self, row: dict) -> list[dict]:
        c = self.columns
        prompt = need(row, c["prompt"])
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        if c.get("system") and row.get(c["system"]):
            prompt = [{"role": "system", "content": row[c["system"]]}, *prompt]
        used = {v for v in c.values()}
        meta = {k: v for k, v in row.items() if k not in used}
        return [make_pair(prompt, need(row, c["chosen"]), need(row, c["rejected"]), self.source, meta)]
