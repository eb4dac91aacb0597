"""The card's PNG figures (matplotlib, Agg backend, ~40 KB each): lengths, strength, funnel."""

from __future__ import annotations

from pathlib import Path

from curate.card.data_figures import CardTally

SIZE = (6.0, 3.0)
DPI = 100


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot's import
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _plt().close(fig)
    return path


def lengths_plot(c, r, path: Path) -> Path:
    import numpy as np

    plt = _plt()
    # log-spaced bins: response lengths span three orders of magnitude
    bins = np.logspace(0, np.log10(max(c.max(), r.max(), 10) + 1), 40)
    fig, ax = plt.subplots(figsize=SIZE)
    ax.hist(c + 1, bins=bins, alpha=0.55, label=f"chosen (median {np.median(c):.0f})", color="#2b8a3e")
    ax.hist(r + 1, bins=bins, alpha=0.55, label=f"rejected (median {np.median(r):.0f})", color="#c92a2a")
    ax.set_xscale("log")
    ax.set_xlabel("response length (characters)")
    ax.set_ylabel("records")
    ax.set_title("Length of chosen vs rejected")
    ax.legend(frameon=False)
    return _save(fig, path)


def strength_plot(hist: dict, column: str, path: Path) -> Path:
    plt = _plt()
    edges, counts = hist["edges"], hist["counts"]
    fig, ax = plt.subplots(figsize=SIZE)
    ax.bar(edges[:-1], counts, width=[b - a for a, b in zip(edges, edges[1:])], align="edge",
           color="#1864ab", edgecolor="white")
    ax.set_xlabel(column)
    ax.set_ylabel("records")
    ax.set_title(f"Preference strength ({column})")
    return _save(fig, path)


def funnel_plot(funnel: list[dict], path: Path) -> Path:
    plt = _plt()
    labels = ["input rows"] + [f["stage"] for f in funnel]
    values = [funnel[0]["records_in"]] + [f["records_out"] for f in funnel]
    fig, ax = plt.subplots(figsize=(SIZE[0], 0.45 * len(labels) + 1.0))
    y = list(range(len(labels)))[::-1]
    ax.barh(y, values, color="#5f3dc4")
    ax.set_yticks(y, labels)
    top = max(values) or 1
    for yi, v in zip(y, values):
        ax.text(v + top * 0.01, yi, f"{v:,}", va="center", fontsize=8)
    ax.set_xlim(0, top * 1.15)
    ax.set_xlabel("records after the stage")
    ax.set_title("Records per stage")
    return _save(fig, path)


def make_plots(report: dict, tally: CardTally, out: Path) -> dict[str, str]:
    """Write the plots the report has data for; returns {name: path relative to `out`}."""
    made = {}
    if report["funnel"]:
        made["funnel"] = funnel_plot(report["funnel"], out / "plots" / "funnel.png")
    lengths = tally.lengths()
    if lengths is not None:
        made["lengths"] = lengths_plot(*lengths, out / "plots" / "lengths.png")
    s = report["data"].get("strength")
    if s:
        made["strength"] = strength_plot(s["histogram"], s["column"], out / "plots" / "strength.png")
    return {k: str(p.relative_to(out)) for k, p in made.items()}
