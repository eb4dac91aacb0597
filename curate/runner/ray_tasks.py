"""What runs on Ray workers: the ``map_batches`` UDF, the run sink actor, the embedding prefetch step.

Workers never write the run directory's shared files themselves: they send dropped rows and stats
deltas to one ``RunSink`` actor on the driver's node, which writes ``rejected/`` (through
``RunFiles``, as the local engine does) and keeps the stats per input block until the driver
commits that block (``take``). Every row carries its input block's number in the hidden
``BLOCK`` column (added at read time, removed before the steps see the batch and before output),
which is what makes rejected file names and per-block stats deterministic, so resume can skip
committed blocks. A ``CurateError`` raised on a worker
is sent to the sink too (it pickles as itself), because Ray wraps worker exceptions beyond
recognition; the driver re-raises the sink's first error.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from curate.context import RunContext
from curate.errors import CurateError
from curate.runner.outputs import RunFiles
from curate.stats import StepStats
from curate.step import Step

BLOCK = "_curate_block"  # the input block (batch index) a row came from; never seen by a step


def by_block(df: pl.DataFrame) -> list[tuple[int | None, pl.DataFrame]]:
    """Split a frame by its ``BLOCK`` column, in order, each part without it. An empty frame has no
    block to name: ``[(None, df)]``. Ray Data keeps one block per batch here; the split only
    guards against a merged batch."""
    if BLOCK not in df.columns:
        return [(None, df)]
    if df.height == 0:
        return [(None, df.drop(BLOCK))]
    if df[BLOCK].n_unique() == 1:
        return [(int(df[BLOCK][0]), df.drop(BLOCK))]
    return [(int(k[0]), part.drop(BLOCK))
            for k, part in df.partition_by(BLOCK, as_dict=True, maintain_order=True).items()]


def with_block(df: pl.DataFrame, block: int | None) -> pl.DataFrame:
    return df.with_columns(pl.lit(block if block is not None else -1, pl.Int64).alias(BLOCK))


def take_delta(step: Step) -> dict:
    """The stats a step gathered since the last call, and a fresh counter for the next batch."""
    d = step.stats.to_dict()
    d["seconds"] = step.stats.seconds  # unrounded: many small deltas must add up
    step.stats = StepStats(step.label)
    return d


class RunSink:
    """One actor per run, on the driver's node: writes workers' rejected rows, keeps their stats
    per input block until the driver commits the block."""

    def __init__(self, run_dir: str):
        self.files = RunFiles(run_dir)
        self.blocks: dict[int, dict[str, StepStats]] = {}
        self.parts: dict[tuple[int, int], int] = {}
        self.error: CurateError | None = None

    def add(self, seg: int, block: int | None, deltas: dict[str, dict], rejected: Any = None) -> None:
        """`deltas`: label → StepStats dict of one block; `rejected`: an Arrow table of dropped rows,
        or None. A batch without a block (empty) has nothing to count but time: it is not kept."""
        if block is None:
            return
        stats = self.blocks.setdefault(block, {})
        for label, d in deltas.items():
            stats.setdefault(label, StepStats(label)).merge(d)
        if rejected is not None and rejected.num_rows:
            n = self.parts.get((seg, block), 0)  # > 0 only if Ray split a block: a second file
            self.parts[(seg, block)] = n + 1
            self.files.rejected(seg, block if n == 0 else f"{block:05d}-{n}", [pl.from_arrow(rejected)])

    def fail(self, error: CurateError) -> None:
        self.error = self.error or error

    def first_error(self) -> CurateError | None:
        return self.error

    def take(self, block: int) -> dict[str, dict]:
        """The stats of one block (label → StepStats dict), forgotten here once the driver has them."""
        return {label: s.to_dict() | {"seconds": s.seconds} for label, s in self.blocks.pop(block, {}).items()}


class ApplySteps:
    """The ``map_batches`` UDF: runs a group of steps on one Arrow batch on a worker.

    Built once per actor (model steps) or once per worker process (tasks, via ``apply_task``),
    so ``setup`` loads models once. Dropped rows and stats deltas go to the sink per batch.
    """

    def __init__(self, steps: list[Step], seg: int, sink: Any, ctx: dict):
        self.steps, self.seg, self.sink = steps, seg, sink
        self.ctx = RunContext.for_dir(**ctx)
        for s in self.steps:
            s.setup(self.ctx)

    def __call__(self, table: Any) -> Any:
        import ray

        outs = []
        for block, df in by_block(pl.from_arrow(table)):
            try:
                for s in self.steps:
                    df = s(df)
            except CurateError as e:
                ray.get(self.sink.fail.remote(e))
                raise
            dropped = [d for s in self.steps for d in s.take_dropped()]
            rejected = pl.concat(dropped, how="diagonal_relaxed").to_arrow() if dropped else None
            # sent before the batch is returned: when the driver sees the block, its stats are here
            ray.get(self.sink.add.remote(self.seg, block, {s.label: take_delta(s) for s in self.steps}, rejected))
            outs.append(with_block(df, block))
        return (outs[0] if len(outs) == 1 else pl.concat(outs, how="diagonal_relaxed")).to_arrow()


_WORKER_UDFS: dict[str, ApplySteps] = {}


def apply_task(table: Any, key: str, steps: list[Step], seg: int, sink: Any, ctx: dict) -> Any:
    # Ray reuses worker processes across tasks: set the steps up once per process and run
    if key not in _WORKER_UDFS:
        if len(_WORKER_UDFS) > 16:  # old runs in a long-lived worker
            _WORKER_UDFS.clear()
        _WORKER_UDFS[key] = ApplySteps(steps, seg, sink, ctx)
    return _WORKER_UDFS[key](table)


class PrefetchVectors(Step):
    """Embed the texts another step will embed, ahead of it, so its own embed calls hit the cache.

    Reads what the wrapped step embeds (it calls that step's ``vectors(batch)``); writes nothing:
    the vectors land in the on-disk embedding cache (``cache_dir/embeddings.sqlite``). Runs in an
    actor pool; its stats are kept under ``<step>:embed`` and do not appear in ``stats.json``.
    """

    name = "prefetch_vectors"
    reads = "any"
    uses_model = True

    def __init__(self, step: Step):
        super().__init__()
        self.step_cls, self.step_options = type(step), step.options
        self.label = f"{step.label}:embed"
        self.inner: Step | None = None

    def setup(self, ctx: RunContext) -> None:
        self.inner = self.step_cls(self.step_options)
        self.inner.setup(ctx)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        self.inner.vectors(batch)
        return batch
