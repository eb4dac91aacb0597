"""Point every removed duplicate at the record that finally represents it.

Dedup steps run one after another and stream: ``exact_dedup`` removes B in favour of A, then
``semantic_dedup`` removes A in favour of C. B's rejected row was written (``kept_id`` = A) before
the later step knew A would go, and a later batch may remove a representative whose duplicates
were written long ago, so the chain cannot be cut while streaming. At the end of the run (each dedup
step's ``after_run``) the rejected rows are read once for (id, kept_id), every chain is followed to
a record no dedup step removed, and the files whose rows change are rewritten: ``kept_id`` and
``cluster_id`` then name the final representative. Memory: one (id, kept_id) pair per removed row.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from curate.io.writers import write_frame

log = logging.getLogger(__name__)


def _links(files: list[Path]) -> dict[str, str]:
    links: dict[str, str] = {}
    for f in files:
        if "kept_id" not in pl.read_parquet_schema(f):
            continue
        df = pl.read_parquet(f, columns=["id", "kept_id"]).filter(pl.col("kept_id").is_not_null())
        links.update(zip(df["id"].to_list(), df["kept_id"].to_list()))
    return links


def final_representatives(links: dict[str, str]) -> dict[str, str]:
    """removed id → kept id links → the ids whose kept id was itself removed, mapped to the chain's end.
    A cycle (two steps removing each other's records; not possible by the rules) stops where it closes."""
    final: dict[str, str] = {}
    for rid, kept in links.items():
        seen = {rid}
        while kept in links and kept not in seen:
            seen.add(kept)
            kept = final.get(kept) or links[kept]
        if kept != links[rid]:
            final[rid] = kept
    return final


def resolve_kept_ids(run_dir: str | Path) -> int:
    """Rewrite RUN/rejected/*.parquet so kept_id / cluster_id name final representatives; rows changed."""
    files = sorted((Path(run_dir) / "rejected").glob("*.parquet"))
    final = final_representatives(_links(files))
    if not final:
        return 0
    changed = 0
    remap = pl.DataFrame({"id": list(final), "_final_": list(final.values())},
                         schema={"id": pl.Utf8, "_final_": pl.Utf8})
    for f in files:
        df = pl.read_parquet(f)
        if "kept_id" not in df.columns:
            continue
        df = df.join(remap, on="id", how="left", maintain_order="left")
        hit = df["_final_"].is_not_null() & df["kept_id"].is_not_null()
        if not hit.any():
            continue
        changed += int(hit.sum())
        new = pl.when(hit).then(pl.col("_final_"))
        cols = [new.otherwise(pl.col("kept_id")).alias("kept_id")]
        if "cluster_id" in df.columns:
            cols.append(new.otherwise(pl.col("cluster_id")).alias("cluster_id"))
        write_frame(df.with_columns(cols).drop("_final_"), f)
    log.info("dedup: %d removed records now point at their final representative", changed)
    return changed
