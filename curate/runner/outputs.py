"""The side outputs of a run, written in one place for every engine.

    RUN/quarantine/part-{batch:05d}.jsonl        input rows that could not become records (the reader's)
    RUN/rejected/s{segment}-part-{n:05d}.parquet rows steps dropped, with ``_step`` and ``_reason``

``segment`` is the local engine's stage number, or the Ray engine's placement segment; ``n`` the
batch. Names are deterministic, so a batch that is redone overwrites its own files (resume).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.io.writers import write_frame, write_jsonl


class RunFiles:
    """Writes quarantine and rejected files under one run directory, and counts the output."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)

    def quarantine(self, batch_index: int, rows: list[dict]) -> None:
        if rows:
            write_jsonl(rows, self.run_dir / "quarantine" / f"part-{batch_index:05d}.jsonl")

    def rejected(self, segment: int, n: int | str, dropped: list[pl.DataFrame]) -> None:
        """`dropped`: the frames of ``Step.take_dropped()`` (record columns + ``_step``, ``_reason``);
        `n`: the batch, or a name already formatted (Ray: a second file of a split block)."""
        frames = [d for d in dropped if d.height]
        if frames:
            part = f"{n:05d}" if isinstance(n, int) else n
            write_frame(pl.concat(frames, how="diagonal_relaxed"),
                        self.run_dir / "rejected" / f"s{segment}-part-{part}.parquet")

    def output_records(self) -> int:
        """Records in ``data/part-*`` (parquet or jsonl shards)."""
        n = 0
        for f in sorted((self.run_dir / "data").glob("part-*")):
            if f.suffix == ".parquet":
                n += pl.scan_parquet(f).select(pl.len()).collect().item()
            else:
                with open(f, encoding="utf-8") as fh:
                    n += sum(1 for _ in fh)
        return n
