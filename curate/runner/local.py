"""The local engine: a loop over batches, stage by stage, committing a checkpoint after every batch
(spaced out when the stage's step states grow costly to save: ``LocalRunner._commit``)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from curate.context import RunContext
from curate.errors import Interrupted
from curate.io.reader import ReadBatch
from curate.io.writers import ShardWriter, read_shard
from curate.registry import ENGINES
from curate.runner.base import Runner, default_cache_dir, safe_name
from curate.runner.checkpoint import Checkpoint
from curate.runner.progress import RunProgress
from curate.step import Step

__all__ = ["LocalRunner", "default_cache_dir", "stage_title"]


def stage_title(k: int, n: int, steps: list[Step]) -> str:
    """The progress bar's name of stage k of n; an empty stage (before a first full-pass step) copies."""
    return f"stage {k + 1}/{n}: " + (" → ".join(s.label for s in steps) or "copy")


@ENGINES.register("local")
class LocalRunner(Runner):
    """Streams each stage's batches through its steps; resumable at every committed batch."""

    engine = "local"
    STATE_SPACING = 10  # a state-saving commit waits this many times the last save's duration (_commit)
    _saved_at = _save_seconds = 0.0
    _written = 0  # batches of the current stage written so far (committed through: ck.done)

    def execute(self, ctx: RunContext, ck: Checkpoint) -> None:
        stages = self.p.stages()
        try:
            for step in self.p.steps:
                step.setup(ctx)
            if ck.stage:  # a resumed run restored the states of stages already done
                self.release(s for done in stages[:ck.stage] for s in done)
            with RunProgress(enabled=self.show_progress) as prog:
                for k in range(ck.stage, len(stages)):
                    self._run_stage(k, stages, ck, prog)
                    ck.stage, ck.done = k + 1, 0
                    ck.save(self.run_dir)
                    self.release(stages[k])  # saved with the commit above; later stages need none of it
        except KeyboardInterrupt:
            raise Interrupted(self.run_dir, ck.stage, ck.done) from None
        finally:
            for step in self.p.steps:
                step.close()

    # ------------------------------------------------------------ stages
    def _batches(self, k: int, prev_dir: Path | None, sink: ShardWriter | None, done: int) -> Iterator[ReadBatch]:
        if k == 0:
            return self._reader.batches(sink, done)
        files = ShardWriter(prev_dir, "parquet").shards()
        return (ReadBatch(i, read_shard(f)) for i, f in enumerate(files))

    def _stage_dir(self, k: int, n: int) -> Path:
        return self.run_dir / "data" if k == n - 1 else self.run_dir / "stages" / f"stage-{k}"

    def _run_stage(self, k: int, stages: list[list[Step]], ck: Checkpoint, prog: RunProgress) -> None:
        steps = stages[k]
        last = k == len(stages) - 1
        out = ShardWriter(self._stage_dir(k, len(stages)), self.p.output.format if last else "parquet")
        prev_dir = self._stage_dir(k - 1, len(stages)) if k else None
        if steps and steps[0].needs_full_pass:
            start = time.perf_counter()
            steps[0].fit(lambda: (read_shard(f) for f in ShardWriter(prev_dir, "parquet").shards()))
            steps[0].stats.seconds += time.perf_counter() - start  # a full-pass step's time is mostly fit
        if k == 0:
            self._reader = self.p.reader()
        total = None if k == 0 else len(ShardWriter(prev_dir, "parquet").shards())
        task = prog.stage(stage_title(k, len(stages), steps), total, self._reader if k == 0 else None)
        # a stage of no steps over the input is the reader's output as it is: the reader writes the
        # shards where it converts them (worker processes, for a big input) and sends back counts
        sink = out if k == 0 and not steps else None
        self._written = ck.done
        for batch in self._batches(k, prev_dir, sink, ck.done):
            if batch.index < ck.done:
                continue  # committed before the interruption
            df = batch.frame
            if k == 0:
                self.count_read(batch)
            for step in steps:
                df = step(df)
            self._commit(k, batch.index, None if batch.written is not None else df, steps, out, ck)
            prog.advance(task, batch.records if batch.written is not None else df.height, batch.index + 1)
        if ck.done < self._written:
            self._save_commit(k, steps, ck)  # the stage's last batches, held back by the spacing below

    def _commit(self, k: int, i: int, df: pl.DataFrame | None, steps: list[Step], out: ShardWriter,
                ck: Checkpoint) -> None:
        """Write batch i's rejected rows and shard (`df`; None: the reader wrote it), then commit
        through it (step states, then the checkpoint) unless a state save is not due yet.

        Saving a stateful step's state (semantic_dedup's: its whole index) costs more as the run
        grows, so saved after every batch it made the run quadratic (benchmarks/README.md, Scale
        2026-12-01b: read+write 74 → 304 µs/pair from 100k to 1M). A commit that saves states waits
        until STATE_SPACING times the last save's duration has passed since it: saves then take at
        most 1/STATE_SPACING of the run at any size, and every batch commits while they are cheap.
        The batches in between are written but not committed: an interruption redoes them from the
        last commit, writing their shards, rejected and quarantine files again under the same names."""
        self.files.rejected(k, i, [d for s in steps for d in s.take_dropped()])
        if df is not None:
            out.write(i, df)
        self._written = i + 1
        stateful = any(s.stateful for s in steps)
        if not stateful or time.perf_counter() - self._saved_at >= self.STATE_SPACING * self._save_seconds:
            self._save_commit(k, steps, ck)

    def _save_commit(self, k: int, steps: list[Step], ck: Checkpoint) -> None:
        """Save the stateful steps' states, then the checkpoint that commits every batch written."""
        start = time.perf_counter()
        i = self._written - 1
        old_states = dict(ck.states)
        for s in steps:
            if s.stateful:
                name = f"{safe_name(s.label)}-{k}-{i:05d}"
                tmp = self.run_dir / "state" / "steps" / f".{name}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                s.save_state(tmp)
                os.replace(tmp, tmp.with_name(name))
                ck.states[s.label] = name
        ck.done = i + 1
        ck.stats = self.snapshot()
        ck.save(self.run_dir)  # the commit point
        for label, name in old_states.items():
            if ck.states.get(label) != name:
                shutil.rmtree(self.run_dir / "state" / "steps" / name, ignore_errors=True)
        self._saved_at = time.perf_counter()
        self._save_seconds = self._saved_at - start
