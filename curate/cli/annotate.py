"""``curate annotate ...``: admins, annotators, tasks, the web server, push and pull of routed pairs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from curate.annotate.store import StoreConfig

DB_HELP = "SQLite store file (the built-in backend)"


def _store_options(f):
    f = click.option("--workspace", default=None, help="argilla: workspace")(f)
    f = click.option("--api-url", default=None, help="argilla: server URL (default $ARGILLA_API_URL)")(f)
    f = click.option("--store", "backend", default="sqlite", show_default=True,
                     help="store backend: sqlite or argilla")(f)
    f = click.option("--db", default="annotate.db", show_default=True, help=DB_HELP)(f)
    return f


def _config(db: str, backend: str, api_url: str | None, workspace: str | None) -> StoreConfig:
    # --db belongs to the sqlite store, --api-url and --workspace to argilla: each store gets its own
    options = {"path": db} if backend == "sqlite" else {"api_url": api_url, "workspace": workspace}
    return StoreConfig(backend=backend, options=options)


def _sqlite(db: str):
    from curate.annotate.sqlite_store import SQLiteStore

    return SQLiteStore(db)


@click.group()
def annotate() -> None:
    """Route pairs to people and bring their answers back as human votes.

    \b
    Examples:
      curate annotate create-admin alice              prints alice's one-time login token
      curate annotate push runs/demo --task harmless-v1 --overlap 3
      curate annotate add-user bob --task harmless-v1 prints bob's one-time token
      curate annotate serve --port 8000               the web app (annotation_ui)
      curate annotate pull runs/demo --task harmless-v1 --out runs/demo-human.parquet
      curate annotate metrics harmless-v1             agreement and kappas
    """


@annotate.command("create-admin")
@click.argument("name")
@click.option("--db", default="annotate.db", show_default=True, help=DB_HELP)
def create_admin(name: str, db: str) -> None:
    """Create an admin and print a one-time login token (there are no default credentials)."""
    token = _sqlite(db).add_user(name, role="admin")
    click.echo(f"admin '{name}' created. One-time login token (shown only now):\n{token}")


@annotate.command("add-user")
@click.argument("name")
@click.option("--db", default="annotate.db", show_default=True, help=DB_HELP)
@click.option("--role", type=click.Choice(["annotator", "admin"]), default="annotator", show_default=True)
@click.option("--task", "tasks", multiple=True, help="assign to this task (repeatable)")
def add_user(name: str, db: str, role: str, tasks: tuple[str, ...]) -> None:
    """Add a user and print their one-time login token."""
    store = _sqlite(db)
    token = store.add_user(name, role=role)
    for t in tasks:
        store.assign(t, [name])
    click.echo(f"{role} '{name}' created. One-time login token (shown only now):\n{token}")


@annotate.command("reset-token")
@click.argument("name")
@click.option("--db", default="annotate.db", show_default=True, help=DB_HELP)
def reset_token(name: str, db: str) -> None:
    """Issue a new one-time token for a user (ends their sessions and password)."""
    click.echo(_sqlite(db).reset_token(name))


@annotate.command("assign")
@click.argument("task")
@click.argument("names", nargs=-1, required=True)
@click.option("--db", default="annotate.db", show_default=True, help=DB_HELP)
def assign(task: str, names: tuple[str, ...], db: str) -> None:
    """Give annotators access to TASK."""
    _sqlite(db).assign(task, list(names))
    click.echo(f"assigned {', '.join(names)} to {task}")


@annotate.command("users")
@click.option("--db", default="annotate.db", show_default=True, help=DB_HELP)
def users(db: str) -> None:
    """List users."""
    for u in _sqlite(db).users():
        click.echo(f"{u['name']}\t{u['role']}\t{'awaiting first login' if u['must_change'] else 'active'}")


@annotate.command("push")
@click.argument("data")
@click.option("--task", required=True, help="task name (created if absent)")
@click.option("--overlap", type=int, default=1, show_default=True, help="annotators per pair")
@click.option("--guidelines", "guidelines_file", type=click.Path(exists=True, dir_okay=False),
              help="guidelines text file")
@click.option("--criterion", "criteria", multiple=True, help="a rubric criterion annotators can tick (repeatable)")
@click.option("--all", "push_all", is_flag=True, help="push every pair, not only decision == route")
@_store_options
def push(data: str, task: str, overlap: int, guidelines_file: str | None, criteria: tuple[str, ...],
         push_all: bool, db: str, backend: str, api_url: str | None, workspace: str | None) -> None:
    """Create TASK from the routed pairs of DATA (a run directory or dataset file). Idempotent."""
    import polars as pl

    from curate.annotate.steps import RouteToHumans
    from curate.cli.inspect import load_any

    df = load_any(data, None)
    if push_all or "decision" not in df.columns:
        if not push_all:
            raise click.UsageError(f"{data} has no 'decision' column; run the ensemble step or pass --all")
        df = df.with_columns(pl.lit("route").alias("decision"))
    step = RouteToHumans(task=task, store=_config(db, backend, api_url, workspace), overlap=overlap,
                         guidelines=Path(guidelines_file).read_text() if guidelines_file else "",
                         criteria=list(criteria))
    step(df)
    step.close()
    c = step.stats.counts
    click.echo(f"task {task}: {c['routed']} routed pairs, {c['pushed_new']} new, {c['already_in_store']} already there")


@annotate.command("pull")
@click.argument("data")
@click.option("--task", required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="output file (.parquet or .jsonl)")
@click.option("--reaggregate/--no-reaggregate", default=True, show_default=True,
              help="re-run the ensemble step on the pairs with their new human votes")
@_store_options
def pull(data: str, task: str, out: str, reaggregate: bool, db: str, backend: str, api_url: str | None,
         workspace: str | None) -> None:
    """Add the answers of TASK to DATA as human votes, re-aggregate, write OUT. Re-running is idempotent."""
    from curate.annotate.steps import HumanVotes
    from curate.cli.inspect import load_any
    from curate.io.writers import write_frame
    from curate.registry import STEPS

    step = HumanVotes(task=task, store=_config(db, backend, api_url, workspace))
    df = step(load_any(data, None))
    if reaggregate:
        df = STEPS.get("ensemble")()(df)
    write_frame(df, out)
    c = step.stats.counts
    click.echo(f"{c['human_votes']} human votes on {c['pairs_done'] + c['pairs_waiting']} routed pairs; "
               f"{c['pairs_waiting']} still waiting, {c['skips']} skips. Wrote {out}")
    acc = step.stats.figures.get("audit", {}).get("label_accuracy")
    if acc:  # the random audit slice of a budgeted route: an unbiased precision estimate
        click.echo(f"random audit: {acc['estimate']:.1%} of {acc['pairs']} output labels confirmed "
                   f"(95% bounds {acc['lower95']:.1%}-{acc['upper95']:.1%})")


@annotate.command("metrics")
@click.argument("task")
@_store_options
@click.option("--json", "as_json", is_flag=True, help="machine-readable output, per item too")
def metrics(task: str, db: str, backend: str, api_url: str | None, workspace: str | None, as_json: bool) -> None:
    """Progress and agreement of TASK: per item, per annotator, Cohen's and Fleiss' kappa."""
    from curate.annotate.metrics import agreement_report

    store = _config(db, backend, api_url, workspace).open()
    report = {"progress": store.progress(task), **agreement_report(store.answers(task))}
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    report.pop("per_item")
    for k, v in report.items():
        click.echo(f"{k}: {v}")


@annotate.command("serve")
@click.option("--db", default="annotate.db", show_default=True, help=DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--secure-cookies", is_flag=True, help="mark cookies Secure (every request arrives over HTTPS)")
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="ADDR",
              help="a TLS proxy (address or network, repeatable) whose X-Forwarded-Proto/-For are believed")
def serve(db: str, host: str, port: int, secure_cookies: bool, trusted_proxies: tuple[str, ...]) -> None:
    """Run the annotation web app (create an admin first with `curate annotate create-admin`).

    \b
    Behind nginx on the same machine, terminating TLS:
      curate annotate serve --trusted-proxy 127.0.0.1
    """
    from curate.errors import require

    uvicorn = require("uvicorn", "ui", "the annotation web app")
    require("fastapi", "ui", "the annotation web app")
    from annotation_ui.app import create_app

    app = create_app(db, secure_cookies=secure_cookies, trusted_proxies=trusted_proxies)
    # proxy_headers off: the app decides which proxies to believe (uvicorn would trust 127.0.0.1 itself)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)


def register(cli: click.Group) -> None:
    cli.add_command(annotate)
