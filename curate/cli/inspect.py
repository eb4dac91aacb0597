"""``curate inspect DATA``: counts, lengths, sources and samples of a dataset or run."""

from __future__ import annotations

import json
from pathlib import Path

import click
import polars as pl

from curate.schema import prompt_text_expr


def load_any(path: str, limit: int | None) -> pl.DataFrame:
    """A run directory / shard folder / output file, or any readable input (via the reader)."""
    from curate.io.writers import read_records

    p = Path(path)
    if p.is_dir() and ((p / "data").is_dir() or list(p.glob("part-*"))):
        df = read_records(p)
        return df.head(limit) if limit else df
    from curate.io.reader import Reader

    reader = Reader(path, limit=limit, batch_size=10_000)
    frames = [b.frame for b in reader.batches()]
    return pl.concat(frames, how="diagonal_relaxed")


def describe(df: pl.DataFrame) -> dict:
    out: dict = {"records": df.height, "columns": df.columns}
    if not df.height:
        return out
    if "source" in df.columns:
        out["sources"] = dict(df.group_by("source").len().sort("len", descending=True).head(10).iter_rows())
    lens = {}
    if "prompt" in df.columns:
        lens["prompt"] = df.select(prompt_text_expr().str.len_chars()).to_series()
        out["turns"] = _summ(df.select(pl.col("prompt").list.len()).to_series())
    for col in ("chosen", "rejected"):
        if col in df.columns:
            lens[col] = df.get_column(col).str.len_chars()
    out["chars"] = {k: _summ(v) for k, v in lens.items()}
    if "decision" in df.columns:
        out["decisions"] = dict(df.group_by("decision").len().iter_rows())
    if "votes" in df.columns:
        out["votes_per_record"] = _summ(df.get_column("votes").list.len())
    return out


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

    DATA is an input file (JSONL/Parquet/CSV), a dataset folder, or a run directory.

    \b
    Examples:
      curate inspect ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz
      curate inspect runs/demo -n 5
    """
    df = load_any(data, limit)
    d = describe(df)
    if as_json:
        click.echo(json.dumps(d, indent=2, default=str))
        return
    click.secho(f"{data}: {d['records']:,} records", bold=True)
    for k in ("sources", "turns", "decisions", "votes_per_record"):
        if k in d:
            click.echo(f"  {k}: {d[k]}")
    for k, v in d.get("chars", {}).items():
        click.echo(f"  {k} chars: {v}")
    for row in df.head(samples).iter_rows(named=True):
        click.echo("  ─" * 20)
        if "prompt" in row:
            click.echo("  prompt: " + " | ".join(f"{m['role']}: {m['content'][:100]}" for m in row["prompt"]))
        for col in ("chosen", "rejected"):
            if col in row:
                click.echo(f"  {col}: {row[col][:160]!r}")


def register(cli: click.Group) -> None:
    cli.add_command(inspect)
