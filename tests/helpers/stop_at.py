"""A step that stops a run (as Ctrl-C would) at a chosen batch, for interrupt-and-resume tests."""

from __future__ import annotations

import polars as pl

from curate.step import Step


class StopAt(Step):
    """Raises KeyboardInterrupt on its `at`-th batch while armed. Reads and writes nothing."""

    name = "stop_at"
    armed = False

    def __init__(self, at: int):
        super().__init__()
        self.at, self.calls = at, 0

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        self.calls += 1
        if StopAt.armed and self.calls == self.at:
            raise KeyboardInterrupt
        return batch
