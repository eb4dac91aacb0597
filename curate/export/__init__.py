"""Export for reward-model training: layouts, leak-free splits, the export folder, Hub push.

    from curate.export import export_run, push_to_hub
    export_run("runs/demo", "exports/demo", layout="trl")     # + README.md data card
    push_to_hub("exports/demo", "me/demo-prefs", private=True)  # token from HF_TOKEN
"""

from __future__ import annotations

from pathlib import Path

from curate.export.hub import push_to_hub
from curate.export.layouts import LAYOUTS, from_layout, to_layout
from curate.export.split import assign_splits
from curate.export.writer import ExportInfo, export_dataset, export_stream


def export_run(run_dir: str | Path, out: str | Path, layout: str = "trl", card: bool = True,
               card_options: dict | None = None, **export_options) -> ExportInfo:
    """Export a finished run directory's records (data/) to `out`, and write its data card there.

    The export streams the run's shards (two passes, one shard in memory at a time)."""
    from curate.card import write_card
    from curate.card.report import load_stats
    from curate.io.writers import iter_shards

    run_dir = Path(run_dir)
    stats = load_stats(run_dir)  # fails early, with a hint, on a directory that is not a finished run
    info, _ = export_stream(lambda: iter_shards(run_dir), out, layout=layout, source_digest=stats.get("digest"),
                            **export_options)
    if card:  # the card's figures still read the run's records whole (curate.card.render.write_card)
        write_card(run_dir, out, export_info=info.to_dict(), **(card_options or {}))
    return info


__all__ = ["ExportInfo", "LAYOUTS", "assign_splits", "export_dataset", "export_run", "export_stream", "from_layout",
           "push_to_hub", "to_layout"]
