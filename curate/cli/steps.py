"""``curate steps``: every step with its columns and YAML options, and every input format."""

from __future__ import annotations

import inspect
import json
from typing import Any

import click

# what `sources.py` reads whatever the layout; a format may narrow it with an `extensions` attribute
SOURCE_TYPES = [".jsonl", ".jsonl.gz", ".json", ".parquet", ".csv", ".txt", "datasets folder / Hub id"]


def describe_format(cls: type) -> dict[str, Any]:
    """name, record kind, extensions, required columns, options and layout of a Format class.

    Reads only what Format classes expose: ``extensions`` / ``required_columns`` / a pydantic
    ``Options`` model where a class has them, else its constructor's keyword options and, as the
    layout, the first paragraph of its module docstring (which names the columns it reads)."""
    module_doc = inspect.getdoc(inspect.getmodule(cls)) or ""
    doc = inspect.getdoc(cls) if cls.__doc__ else module_doc
    if getattr(cls, "Options", None) is not None:
        options = {k: _type(f.annotation) for k, f in cls.Options.model_fields.items()}
    else:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        options = {p.name: _type(p.annotation) for p in params
                   if p.name != "source" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return {"name": cls.name, "kind": cls.kind, "extensions": list(getattr(cls, "extensions", ()) or SOURCE_TYPES),
            "required_columns": list(getattr(cls, "required_columns", ())), "options": options,
            "layout": " ".join(doc.split("\n\n")[0].split()), "doc": doc}


def _type(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, str):
        return annotation
    if getattr(annotation, "__origin__", None) is not None or type(annotation).__name__ == "UnionType":
        return str(annotation).replace("typing.", "")  # Literal['a', 'b'], dict[str, int] | None
    return getattr(annotation, "__name__", str(annotation))


def _echo_step(d: dict, full: bool) -> None:
    click.secho(d["name"], bold=True, nl=False)
    click.echo(f"  ({d['reads']} → {d['writes']})  {d['summary']}")
    click.echo(f"    reads:  {', '.join(d['inputs']) or '-'}")
    click.echo(f"    writes: {', '.join(d['outputs']) or '-'}")
    if d["options"]:
        click.echo("    options (YAML keys beside `step:`):")
    for k, o in d["options"].items():
        default = "required" if o["required"] else f"default {o['default']!r}"
        click.echo(f"      {k}: {o['type']} ({default}) {o['help']}")
    if full:
        click.echo("\n" + d["doc"])


def _echo_format(d: dict, full: bool) -> None:
    click.secho(d["name"], bold=True, nl=False)
    click.echo(f"  ({d['kind']})  {d['layout']}")
    if d["required_columns"]:
        click.echo(f"    required columns: {', '.join(d['required_columns'])}")
    click.echo(f"    files: {', '.join(d['extensions'])}")
    opts = ", ".join(f"{k}: {t}" for k, t in d["options"].items())
    click.echo(f"    options (input.format_options): {opts or '-'}")
    if full:
        click.echo("\n" + d["doc"])


@click.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output (the steps, or the formats)")
@click.option("--formats", "formats_only", is_flag=True, help="list only the input formats")
@click.argument("name", required=False)
def steps(name: str | None, as_json: bool, formats_only: bool) -> None:
    """List every step with its input/output columns and YAML options, then the input formats
    (or one step or format in full).

    \b
    Examples:
      curate steps
      curate steps semantic_dedup
      curate steps --formats
      curate steps mapping
    """
    from curate.registry import FORMATS, STEPS

    if name and name not in STEPS.names() and name in FORMATS.names():
        formats_only = True
    fmts = [describe_format(FORMATS.get(name))] if name and formats_only else \
        [describe_format(c) for _, c in FORMATS.items()]
    descs = [] if formats_only else \
        [c.describe() for c in ([STEPS.get(name)] if name else [c for _, c in STEPS.items()])]
    if as_json:
        click.echo(json.dumps(fmts if formats_only else descs, indent=2, default=str))
        return
    for d in descs:
        _echo_step(d, full=bool(name))
    if name and not formats_only:
        return
    click.secho("\ninput formats (input.format; auto tries them in order)" if descs else "input formats", bold=True)
    for d in fmts:
        _echo_format(d, full=bool(name))


def register(cli: click.Group) -> None:
    cli.add_command(steps)
