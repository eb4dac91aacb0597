"""``curate inspect DATA``: counts (records and quarantined rows by reason), lengths, sources and samples
of an input file, a run directory or an export folder."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click
import polars as pl

from curate.errors import CurateError, InputError
from curate.schema import prompt_text_expr


def load_any(path: str, limit: int | None) -> pl.DataFrame:
    """The records of any readable path (see `load_counted`); the quarantine is left out."""
    return load_counted(path, limit)[0]


def load_counted(path: str, limit: int | None) -> tuple[pl.DataFrame, dict[str, int]]:
    """(records, quarantined rows by reason) of a run directory, an export folder, a shard folder or
    file, or any readable input (read through the reader, whose bad rows are the quarantine)."""
    from curate.io.writers import read_records

    p = Path(path)
    try:
        if p.is_dir() and ((p / "data").is_dir() or list(p.glob("part-*"))):
            # a run whose every row was quarantined has an empty data/: zero records, not an error
            empty = (p / "data").is_dir() and not any((p / "data").glob("*.*"))
            df = pl.DataFrame() if empty else read_records(p)
            return (df.head(limit) if limit else df), _quarantine_files(p / "quarantine")
        from curate.io.reader import Reader

        reader = Reader(path, limit=limit, batch_size=10_000)
        frames, bad = [], Counter()
        for b in reader.batches():
            frames.append(b.frame)
            bad.update(q.get("reason", "unknown") for q in b.quarantined)
        return (pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()), dict(bad)
    except CurateError:
        raise
    except Exception as e:  # a corrupt or foreign file: say so in one line, never a traceback
        raise InputError(f"cannot read {path}: {type(e).__name__}: {e}; curate inspect reads input files "
                         f"(JSONL/Parquet/CSV/datasets), run directories and export folders") from e


def _quarantine_files(directory: Path) -> dict[str, int]:
    """Counts by reason of a run's quarantine/part-N.jsonl files (a line that is not JSON: 'unreadable')."""
    counts: Counter = Counter()
    for f in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                counts[json.loads(line).get("reason", "unknown")] += 1
            except (ValueError, AttributeError):
                counts["unreadable"] += 1
    return dict(counts)


def _text_lengths(s: pl.Series) -> pl.Series | None:
    """Characters of a text column: a string, or (export layouts) the last message of a message list."""
    if s.dtype == pl.Utf8:
        return s.str.len_chars()
    if isinstance(s.dtype, pl.List) and isinstance(s.dtype.inner, pl.Struct) and \
            "content" in [f.name for f in s.dtype.inner.fields]:
        return s.list.last().struct.field("content").str.len_chars()
    return None


def describe(df: pl.DataFrame, quarantined: dict[str, int] | None = None) -> dict:
    quarantined = quarantined or {}
    out: dict = {"records": df.height, "quarantined": sum(quarantined.values()),
                 "quarantined_by_reason": dict(sorted(quarantined.items(), key=lambda kv: -kv[1])),
                 "columns": df.columns}
    if not df.height:
        return out
    if "source" in df.columns:
        out["sources"] = dict(df.group_by("source").len().sort("len", descending=True).head(10).iter_rows())
    lens = {}
    if "prompt" in df.columns:
        prompt = df.get_column("prompt")
        if prompt.dtype == pl.Utf8:
            lens["prompt"] = prompt.str.len_chars()
        elif isinstance(prompt.dtype, pl.List) and isinstance(prompt.dtype.inner, pl.Struct):
            lens["prompt"] = df.select(prompt_text_expr().str.len_chars()).to_series()
            out["turns"] = _summ(prompt.list.len())
    for col in ("chosen", "rejected"):
        if col in df.columns and (n := _text_lengths(df.get_column(col))) is not None:
            lens[col] = n
    out["chars"] = {k: _summ(v) for k, v in lens.items() if v.drop_nulls().len()}
    if "decision" in df.columns:
        out["decisions"] = dict(df.group_by("decision").len().iter_rows())
    if "votes" in df.columns and isinstance(df.schema["votes"], pl.List):
        out["votes_per_record"] = _summ(df.get_column("votes").list.len())
    return out


def _show(value: object, width: int) -> str:
    """One line of a sample value: chat messages as 'role: text | ...', anything else as its repr."""
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return " | ".join(f"{m.get('role')}: {str(m['content'])[:width]}" for m in value)
    return repr(value)[:width]


def _summ(s: pl.Series) -> dict:
    return {"min": int(s.min()), "p50": float(s.median()), "mean": round(float(s.mean()), 1),
            "p95": float(s.quantile(0.95)), "max": int(s.max())}


@click.command()
@click.argument("data")
@click.option("-n", "--samples", default=2, show_default=True, help="how many sample records to print")
@click.option("--limit", type=int, default=None, help="read at most N rows")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def inspect(data: str, samples: int, limit: int | None, as_json: bool) -> None:
    """Show counts, length statistics, sources and a few samples of DATA.

    DATA is an input file (JSONL/Parquet/CSV), a dataset folder, a run directory or an export folder.
    Quarantined rows (those the reader could not turn into records) are counted by reason.

    \b
    Examples:
      curate inspect ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz
      curate inspect runs/demo -n 5
    """
    df, quarantined = load_counted(data, limit)
    d = describe(df, quarantined)
    if as_json:
        click.echo(json.dumps(d, indent=2, default=str))
        return
    click.secho(f"{data}: {d['records']:,} records, {d['quarantined']:,} quarantined rows", bold=True)
    if d["quarantined"]:
        click.echo("  quarantined: " + ", ".join(f"{k}={v:,}" for k, v in d["quarantined_by_reason"].items()))
    for k in ("sources", "turns", "decisions", "votes_per_record"):
        if k in d:
            click.echo(f"  {k}: {d[k]}")
    for k, v in d.get("chars", {}).items():
        click.echo(f"  {k} chars: {v}")
    for row in df.head(samples).iter_rows(named=True):
        click.echo("  ─" * 20)
        for col, width in (("prompt", 100), ("chosen", 160), ("rejected", 160)):
            if col in row:
                click.echo(f"  {col}: {_show(row[col], width)}")


def register(cli: click.Group) -> None:
    cli.add_command(inspect)
