"""Judge outputs that already exist (a batch API run, another tool, a paper's release) become votes.

The ``stored_judge`` step reads a file of raw judge replies, one row per pair with one reply per
order, and turns them into votes with curate's own verdict parser (``curate/judge/parse.py``) and
swap rule (``curate/judge/swap.py``), exactly as ``llm_judge`` does with replies it asked for. So a
stored run and a live run of the same judge give the same votes, and parse failures are counted
the same way.

File layout (JSONL, JSON array, optionally gzipped, or Parquet), one row per pair:

    id     the pair's id in the run (``key: id``), or nothing (``key: position``: row i ↔ i-th pair)
    ab     the judge's reply when the pair's CHOSEN response was shown first (as A)
    ba     the judge's reply when the REJECTED response was shown first
           a null reply means no output was stored for that order (counted ``parse_fail:missing``)

Column names are options, so a file from another tool needs no rewriting.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field

from curate.errors import ConfigError, InputError
from curate.io.sources import open_source
from curate.judge.parse import parse_verdict
from curate.judge.swap import combine, swap_figures
from curate.registry import STEPS
from curate.schema import VoteKind, add_votes, dumps
from curate.step import Options, Step

# parser name → function(text) -> (verdict "A"/"B"/"tie" or None, failure reason or None)
PARSERS: dict[str, Callable[[str | None], tuple[str | None, str | None]]] = {"verdict": parse_verdict}


class StoredJudgeOptions(Options):
    path: str = Field(description="file of judge replies: .jsonl, .json (array) or .parquet, optionally .gz")
    voter: str = Field(description="voter id in the votes column, e.g. judge:gpt-4:cot")
    family: str | None = Field(None, description="model family of the judge (votes of one family are correlated)")
    key: Literal["id", "position"] = Field("id", description="match file rows to pairs by pair id, or by "
                                           "position (row i = the i-th pair this step sees)")
    id_column: str = Field("id", description="file column holding the pair id (key: id)")
    ab_column: str = Field("ab", description="file column: the reply when chosen was shown first")
    ba_column: str = Field("ba", description="file column: the reply when rejected was shown first")
    parser: Literal["verdict"] = Field("verdict", description="which parser of curate/judge/parse.py reads a reply")
    confidence: float = Field(0.3, gt=0, le=0.5, description="p_chosen = 0.5 ± this when both orders agree "
                              "(as llm_judge)")


def read_outputs(path: str | Path) -> list[dict]:
    """Rows of a judge-output file as dicts, through curate's own sources (JSONL, JSON arrays,
    Parquet, CSV, optionally gzipped); an unreadable row stops the step with its file and line."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"stored judge outputs not found: {p}; check the step's 'path' (relative to where "
                         f"you run curate)")
    rows = []
    for row in open_source(str(p)):
        if row.error is not None:
            raise InputError(f"{row.file}:{row.line}: stored judge output unreadable ({row.error}); fix or "
                             f"remove that row")
        rows.append(row.value)
    return rows


@STEPS.register()
class StoredJudge(Step):
    """Turn stored judge replies (one per order) into one ``llm_judge`` vote per pair.

    Reads: id (key: id). Writes: votes (appends {voter, kind: llm_judge, p_chosen, margin: null, raw});
    p_chosen follows llm_judge's swap rule (0.5 ± confidence when both orders agree, 0.5 when the
    verdict follows the position, None when neither order parsed or the pair has no row in the file);
    raw keeps both replies, the verdicts and the outcome. Counts ``orders_judged``, parse failures by
    reason (``parse_fail:<reason>``; ``missing`` = no reply stored), ``outcome:<outcome>`` and
    ``unmatched`` pairs; figures give ``position_consistency`` and ``parse_failure_rate``. Stateful
    only for ``key: position`` (the count of pairs seen, so a resumed run keeps matching rows).
    """

    name = "stored_judge"
    inputs = ("id",)
    outputs = ("votes",)
    Options = StoredJudgeOptions
    stateful = True
    vote_kind = VoteKind.LLM_JUDGE

    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        o = self.options
        # the voter name keeps the family prefix (GPT-4/GPT-4:CoT) so names stay unique across families
        self.voter = f"{o.family}/{o.voter}" if o.family else o.voter
        self.parse = PARSERS[o.parser]
        self.seen = 0
        self._by_id: dict[str, tuple] | None = None
        self._rows: list[tuple] | None = None

    def _load(self) -> None:
        o = self.options
        rows = read_outputs(o.path)
        need = [o.ab_column, o.ba_column] + ([o.id_column] if o.key == "id" else [])
        absent = [c for c in need if rows and c not in rows[0]]
        if absent:
            raise ConfigError(f"step {self.label}: {o.path} has no column {', '.join(absent)} (it has "
                              f"{', '.join(rows[0])}); set ab_column / ba_column / id_column")
        texts = [(r.get(o.ab_column), r.get(o.ba_column)) for r in rows]
        if o.key == "id":
            self._by_id = {str(r[o.id_column]): t for r, t in zip(rows, texts)}
        else:
            self._rows = texts

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        if self._by_id is None and self._rows is None:
            self._load()
        if self._by_id is not None:
            found = [self._by_id.get(i) for i in batch["id"].to_list()]
        else:
            rows = self._rows or []
            found = [rows[k] if k < len(rows) else None for k in range(self.seen, self.seen + batch.height)]
        self.seen += batch.height
        p: list[float | None] = []
        raw: list[str | None] = []
        for texts in found:
            if texts is None:
                self.stats.count("unmatched")
                p.append(None)
                raw.append(dumps({"unmatched": True}))
                continue
            vote_p, vote_raw = self._vote(*texts)
            p.append(vote_p)
            raw.append(vote_raw)
        return add_votes(batch, self.voter, self.vote_kind, p, None, raw, family=self.options.family)

    def _vote(self, ab: str | None, ba: str | None) -> tuple[float | None, str]:
        verdicts, reasons = [], []
        for text in (ab, ba):
            v, reason = self.parse(text) if text is not None else (None, "missing")
            self.stats.count("orders_judged")
            if reason:
                self.stats.count(f"parse_fail:{reason}")
            verdicts.append(v)
            reasons.append(reason)
        vote = combine(verdicts[0], verdicts[1], self.options.confidence)
        self.stats.count(f"outcome:{vote.outcome}")
        raw: dict[str, Any] = {"ab": ab, "ba": ba, "verdicts": verdicts, "outcome": vote.outcome}
        if any(reasons):
            raw["errors"] = reasons
        return vote.p_chosen, dumps(raw)

    def summary(self) -> dict[str, Any]:
        return swap_figures(self.stats.counts, self.voter)

    def save_state(self, directory: Path) -> None:
        (Path(directory) / "stored_judge.json").write_text(json.dumps({"seen": self.seen}))

    def load_state(self, directory: Path) -> None:
        f = Path(directory) / "stored_judge.json"
        if f.exists():
            self.seen = int(json.loads(f.read_text())["seen"])
