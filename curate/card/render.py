"""Render the data card: Hub YAML front matter + the curation report as Markdown, plus its plots.

The template is ``curate/card/templates/card.md.j2`` (``data_cards/template.md.j2`` links to it);
pass ``template=`` to use your own. The front matter follows the Hub's dataset card metadata
(license, task_categories, size_categories, configs), so the Hub viewer and ``load_dataset`` see
the splits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from curate.card.data_figures import CardTally, card_tally
from curate.card.plots import make_plots
from curate.card.report import build_report
from curate.io.writers import write_json

TEMPLATE = Path(__file__).parent / "templates" / "card.md.j2"

LAYOUT_DOCS = {
    "trl": "TRL conversational preference format with an explicit prompt: `prompt` is a list of chat messages, "
           "`chosen` and `rejected` are one-message assistant lists. Load with TRL's `RewardTrainer` or "
           "`DPOTrainer` unchanged.",
    "trl_text": "TRL standard preference format with an explicit prompt, as text in the HH transcript convention "
                "(`prompt` ends with `\\n\\nAssistant:`, `chosen`/`rejected` are continuations).",
    "openrlhf": "OpenRLHF: `chosen` and `rejected` are whole conversations (prompt messages + final assistant "
                "message); train with `--chosen_key chosen --rejected_key rejected --apply_chat_template`.",
    "dpo": "plain strings: `prompt` (the conversation as 'Role: content' turns), `chosen`, `rejected`.",
}


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return name
    return "100M<n<1B"


def front_matter(report: dict, license: str, pretty_name: str, language: list[str]) -> str:
    import yaml

    meta: dict[str, Any] = {
        "license": license, "language": language, "pretty_name": pretty_name,
        "task_categories": ["text-generation", "text-classification"],
        "tags": ["preference", "reward-modeling", "rlhf", "dpo", "curate"],
        "size_categories": [size_category(report["overview"]["records_out"] or 0)],
    }
    exp = report.get("export")
    if exp:
        meta["configs"] = [{"config_name": "default", "data_files": [
            {"split": s, "path": f"data/{s}-*"} for s in exp["splits"]]}]
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


def _num(v: Any) -> str:
    """One number format for the whole card: thousands separators; a fraction (|v| ≤ 1: rates, shares,
    probabilities) with three fixed decimals; a larger float with one, bare when whole."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if abs(v) <= 1:
            return f"{v:.3f}"
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.1f}"
    if isinstance(v, list):
        return ", ".join(_num(x) for x in v)
    return str(v).replace("|", "\\|").replace("\n", " ")


def _pct(v: Any) -> str:
    return f"{100 * float(v):.1f}%" if isinstance(v, (int, float)) else str(v)


def render_card(report: dict, plots: dict[str, str], license: str = "other", pretty_name: str | None = None,
                description: str = "", language: list[str] | None = None, repo_id: str | None = None,
                license_note: str = "", template: str | Path | None = None) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(template or TEMPLATE).parent)),
                             keep_trailing_newline=True, trim_blocks=False, undefined=jinja2.ChainableUndefined)
    env.filters["num"] = _num
    env.filters["pct"] = _pct
    title = pretty_name or report["provenance"].get("pipeline") or "Preference dataset"
    layout = (report.get("export") or {}).get("layout")
    text = env.get_template(Path(template or TEMPLATE).name).render(
        r=report, plots=plots, title=title, description=description or _description(report),
        license=license, license_note=license_note, repo_id=repo_id,
        layout_doc=LAYOUT_DOCS.get(layout, ""),
        front_matter=front_matter(report, license, title, language or ["en"]))
    # the template's control blocks leave runs of blank lines; Markdown needs at most one
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


def _description(report: dict) -> str:
    import yaml

    text = report["provenance"].get("pipeline_yaml") or ""
    desc = (yaml.safe_load(text) or {}).get("description") if text else None
    return desc or "A preference dataset for reward-model and DPO training."


def write_card(run_dir: str | Path, out: str | Path, records: pl.DataFrame | None = None,
               export_info: dict | None = None, **card_options: Any) -> Path:
    """Write OUT/README.md, OUT/plots/*.png and OUT/curation_report.json for the run in `run_dir`.

    If OUT holds an export (export.json), the card describes its layout and splits.
    """
    run_dir, out = Path(run_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if export_info is None and (out / "export.json").exists():
        export_info = json.loads((out / "export.json").read_text(encoding="utf-8"))
    tally = card_tally(run_dir) if records is None else CardTally().add(records)
    report = build_report(run_dir, tally, export_info)
    plots = make_plots(report, tally, out)
    write_json(report, out / "curation_report.json")
    path = out / "README.md"
    path.write_text(render_card(report, plots, **card_options), encoding="utf-8")
    return path
