"""``curate run`` and ``curate validate``."""

from __future__ import annotations


import click

from curate.config import load_pipeline
from curate.pipeline import Pipeline


@click.command()
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False), help="run directory (default: output.dir)")
@click.option("--resume", is_flag=True, help="continue an interrupted run from its last checkpoint")
@click.option("--overwrite", is_flag=True, help="delete a previous run in the output directory first")
@click.option("--engine", type=click.Choice(["local", "ray"]), default=None, help="override the pipeline's engine")
@click.option("--limit", type=int, default=None, help="read at most N input rows (quick trials)")
@click.option("--no-progress", is_flag=True, help="no progress bars (logs, CI)")
def run(pipeline: str, out: str | None, resume: bool, overwrite: bool, engine: str | None,
        limit: int | None, no_progress: bool) -> None:
    """Run a pipeline file.

    \b
    Examples:
      curate run pipelines/clean_preferences.yaml
      curate run pipelines/demo.yaml --out runs/try1 --limit 200
      curate run pipelines/demo.yaml --resume        # after Ctrl-C or a crash
    """
    cfg = load_pipeline(pipeline)
    if limit is not None:
        cfg.input.limit = limit
    p = Pipeline.from_config(cfg)
    stats = p.run(run_dir=out, resume=resume, overwrite=overwrite, progress=not no_progress, engine=engine)
    _summary(stats)


def _summary(stats: dict) -> None:
    r = stats["read"]
    click.echo(f"read {r['records_in']:,} rows → {r['records_out']:,} records "
               f"({stats['quarantined']:,} quarantined{_reasons(r['dropped'])})")
    for s in stats["steps"]:
        click.echo(f"  {s['name']:<28} {s['records_in']:>9,} → {s['records_out']:<9,} "
                   f"{s['seconds']:>8.2f}s{_reasons(s['dropped'])}")
    click.echo(f"wrote {stats['output']['records']:,} records to {stats['output']['dir']}")


def _reasons(d: dict) -> str:
    return "" if not d else " · " + ", ".join(f"{k}={v:,}" for k, v in sorted(d.items(), key=lambda x: -x[1]))


@click.command()
@click.argument("pipeline", type=click.Path(dir_okay=False))
def validate(pipeline: str) -> None:
    """Check a pipeline file (YAML, step names and options) without running it.

    \b
    Example:
      curate validate pipelines/demo.yaml
    """
    cfg = load_pipeline(pipeline)
    p = Pipeline.from_config(cfg)
    click.echo(f"ok: {cfg.name}: {len(cfg.steps)} steps in {len(p.stages())} stage(s), digest {cfg.digest()}")
    for s in p.steps:
        click.echo(f"  - {s.label}" + ("  [full pass]" if s.needs_full_pass else "") +
                   ("  [stateful]" if s.stateful else ""))


def register(cli: click.Group) -> None:
    cli.add_command(run)
    cli.add_command(validate)
