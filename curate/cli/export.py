"""``curate export``, ``curate card`` and ``curate push``: a finished run → training export, data card, Hub."""

from __future__ import annotations

import click

from curate.export.layouts import LAYOUTS


def _fractions(spec: str) -> dict[str, float]:
    """'train=0.8,validation=0.1,test=0.1' → {'train': 0.8, ...}."""
    from curate.errors import ConfigError

    out = {}
    for part in spec.split(","):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--splits: '{part}' is not NAME=FRACTION (e.g. train=0.9,test=0.1)") from None
    return out


@click.command("export")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="export folder to write")
@click.option("--layout", type=click.Choice(list(LAYOUTS)), default="trl", show_default=True,
              help="trainer layout")
@click.option("--splits", default="train=0.9,test=0.1", show_default=True, help="split fractions, summing to 1")
@click.option("--seed", type=int, default=0, show_default=True, help="split seed")
@click.option("--shard-mb", type=float, default=256.0, show_default=True, help="target Parquet shard size (MB)")
@click.option("--stratify", default="source", show_default=True, help="column to stratify by ('' for none)")
@click.option("--routed", type=click.Choice(["own_split", "exclude", "include"]), default="own_split",
              show_default=True, help="pairs routed to humans and not answered yet: left out, their own "
                                      "'routed' split, or exported like any pair")
@click.option("--no-arrow", is_flag=True, help="skip the save_to_disk (load_from_disk) copy")
@click.option("--no-card", is_flag=True, help="skip the README.md data card")
@click.option("--license", "license_", default="other", show_default=True, help="license for the card")
@click.option("--overwrite", is_flag=True, help="replace an earlier export in --out")
@click.option("--push", "push_repo", default=None, help="then push to this Hub dataset repo (token: HF_TOKEN)")
@click.option("--public", is_flag=True, help="create the Hub repo public (default private)")
@click.option("--endpoint", default=None, help="Hub endpoint (default huggingface.co)")
def export_cmd(run_dir, out, layout, splits, seed, shard_mb, stratify, routed, no_arrow, no_card, license_, overwrite,
               push_repo, public, endpoint) -> None:
    """Export a finished run for reward-model / DPO training, with leak-free splits and a data card.

    \b
    Examples:
      curate export runs/demo --out exports/demo                       # TRL conversational
      curate export runs/demo --out exports/demo-orlhf --layout openrlhf
      curate export runs/demo --out exports/demo --splits train=0.8,validation=0.1,test=0.1
      curate export runs/demo --out exports/demo --routed exclude      # unanswered routed pairs left out
      HF_TOKEN=hf_... curate export runs/demo --out exports/demo --push me/demo-prefs
    """
    from curate.export import export_run, push_to_hub

    info = export_run(run_dir, out, layout=layout, card=not no_card, fractions=_fractions(splits), seed=seed,
                      shard_mb=shard_mb, stratify=stratify or None, arrow=not no_arrow, overwrite=overwrite,
                      routed=routed,
                      card_options={"license": license_, "repo_id": push_repo})
    sizes = ", ".join(f"{k} {v:,}" for k, v in info.splits.items())
    click.echo(f"wrote {layout} export to {out}: {sizes} ({len(info.files)} Parquet shards)")
    if push_repo:
        click.echo(f"pushed: {push_to_hub(out, push_repo, private=not public, endpoint=endpoint)}")


@click.command("card")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="folder for README.md + plots/ (default: RUN_DIR/card); an export folder gets its splits")
@click.option("--license", "license_", default="other", show_default=True)
@click.option("--title", default=None, help="card title (default: the pipeline name)")
def card_cmd(run_dir, out, license_, title) -> None:
    """Write the data card (README.md, plots, curation_report.json) of a finished run.

    \b
    Examples:
      curate card runs/demo --out data_cards/demo
      curate card runs/demo --out exports/demo      # refresh the card of an export
    """
    from pathlib import Path

    from curate.card import write_card

    path = write_card(run_dir, out or Path(run_dir) / "card", license=license_, pretty_name=title)
    click.echo(f"wrote {path}")


@click.command("push")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.argument("repo_id")
@click.option("--public", is_flag=True, help="create the repo public (default private)")
@click.option("--endpoint", default=None, help="Hub endpoint (default huggingface.co)")
def push_cmd(folder, repo_id, public, endpoint) -> None:
    """Push an export folder to a Hub dataset repo in one commit (token from HF_TOKEN; re-run to resume).

    \b
    Example:
      HF_TOKEN=hf_... curate push exports/demo me/demo-prefs
    """
    from curate.export.hub import push_to_hub

    click.echo(f"pushed: {push_to_hub(folder, repo_id, private=not public, endpoint=endpoint)}")


def register(cli: click.Group) -> None:
    cli.add_command(export_cmd)
    cli.add_command(card_cmd)
    cli.add_command(push_cmd)
