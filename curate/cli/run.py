"""``curate run`` and ``curate validate``."""

from __future__ import annotations

import click

from curate.config import load_pipeline
from curate.errors import ConfigError
from curate.pipeline import Pipeline
from curate.runner.checks import enforce


@click.command()
@click.argument("pipeline", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False), help="run directory (default: output.dir)")
@click.option("--resume", is_flag=True, help="continue an interrupted run from its last checkpoint")
@click.option("--overwrite", is_flag=True, help="delete a previous run in the output directory first")
@click.option("--engine", type=click.Choice(["local", "ray"]), default=None, help="override the pipeline's engine")
@click.option("--limit", type=int, default=None, help="read at most N input rows (quick trials)")
@click.option("--no-progress", is_flag=True, help="no progress bars (logs, CI)")
@click.option("--allow-empty", is_flag=True, help="a run that writes 0 records is not an error")
@click.option("--max-quarantine-rate", type=click.FloatRange(0, 1), default=None,
              help="fail when more of the input is quarantined (default: checks.max_quarantine_rate, 0.5)")
@click.option("--max-failure-rate", type=click.FloatRange(0, 1), default=None,
              help="fail when more of a step's LLM calls fail (default: checks.max_failure_rate, 0.5)")
@click.option("--ray-logs", is_flag=True, help="--engine ray: show Ray's own logs and progress bars")
def run(pipeline: str, out: str | None, resume: bool, overwrite: bool, engine: str | None,
        limit: int | None, no_progress: bool, allow_empty: bool, max_quarantine_rate: float | None,
        max_failure_rate: float | None, ray_logs: bool) -> None:
    """Run a pipeline file.

    The run's files are always written; it exits 1 when it wrote no records from a non-empty
    input, quarantined more than max_quarantine_rate of it, or a step's LLM calls failed more than
    max_failure_rate (set these under `checks:` in the YAML or with the options below).

    \b
    Examples:
      curate run pipelines/clean_preferences.yaml
      curate run pipelines/demo.yaml --out runs/try1 --limit 200
      curate run pipelines/demo.yaml --resume        # after Ctrl-C or a crash
      curate run pipelines/demo.yaml --engine ray --ray-logs
    """
    cfg = load_pipeline(pipeline)
    if limit is not None:
        cfg.input.limit = limit
    given = {"allow_empty": allow_empty or None, "max_quarantine_rate": max_quarantine_rate,
             "max_failure_rate": max_failure_rate}
    cfg.checks = cfg.checks.model_copy(update={k: v for k, v in given.items() if v is not None})
    options = {}
    if ray_logs:
        if (engine or cfg.engine) != "ray":
            raise ConfigError("--ray-logs applies to the ray engine only; add --engine ray or drop it")
        options["ray_logs"] = True
    p = Pipeline.from_config(cfg)
    stats = p.run(run_dir=out, resume=resume, overwrite=overwrite, progress=not no_progress, engine=engine,
                  **options)
    _summary(stats)
    enforce(stats)  # after the summary: the reason is the last line, and the exit code says it


def _summary(stats: dict) -> None:
    r = stats["read"]
    click.echo(f"read {r['records_in']:,} rows → {r['records_out']:,} records "
               f"({stats['quarantined']:,} quarantined{_reasons(r['dropped'])})")
    failures = stats.get("health", {}).get("llm_failures", {})
    for s in stats["steps"]:
        f = failures.get(s["name"])
        llm = f" · LLM calls failed: {f['failed']:,} of {f['calls']:,}" if f and f["failed"] else ""
        click.echo(f"  {s['name']:<28} {s['records_in']:>9,} → {s['records_out']:<9,} "
                   f"{s['seconds']:>8.2f}s{_reasons(s['dropped'])}{llm}")
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
