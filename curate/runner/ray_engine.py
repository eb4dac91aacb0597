"""The Ray Data engine: the same steps and run directory as the local engine, on a Ray cluster.

    curate run pipeline.yaml --engine ray      # or `engine: ray` in the YAML

Ray is joined at ``RAY_ADDRESS`` when set (or reused when the caller already ran ``ray.init``);
otherwise a local Ray instance is started for the run and shut down after it.

How each step runs (decided per step, in pipeline order):

* plain steps (stateless, no model): consecutive ones are fused into one ``map_batches`` task.
* ``uses_model`` steps: ``map_batches`` over an actor pool, so each actor loads the model once;
  ``num_gpus=1`` per actor when the cluster has GPUs.
* ``stateful`` steps (streaming dedup): on the driver, over the stream of batches in input order,
  so the same record is kept as in the local engine; the result goes back into Ray.
* ``needs_full_pass`` steps: the pipeline is split into stages before them, as in the local engine
  (``Pipeline.stages``), with shards in ``stages/stage-<k>/`` between stages; ``fit`` runs on the
  driver over the stage's materialised dataset, then the step is processed as a plain step (or on
  the driver when it holds a model or state).
* a step whose ``ray_plan(ds, plan)`` returns a Dataset runs that way instead; ``plan`` is the
  ``RayPlan`` of ``ray_plan.py`` (``map``, ``on_driver``, ``fit``, ``frames``, ``embed_first``, ``ctx``).
  Semantic dedup's plan is ``plan.embed_first(ds, self)``: embed in an actor pool, index on the driver.

Side outputs match the local engine: the reader runs on the driver and writes ``quarantine/``
exactly as it does locally; workers send their dropped rows and stats deltas to one ``RunSink``
actor on the driver's node, which writes ``rejected/`` and sums the stats, so ``stats.json`` has
the local engine's counts (``seconds`` is summed over workers). Output shards are written by the
driver as ``data/part-<block>`` (the input batch a shard's rows came from).

``--resume``: Ray retries tasks of dead workers itself; a lost driver (or head node) is what resume
is for. Each input block's commit is a marker file with its stats (``ray_resume.py``): streaming
stages skip committed blocks (stateful driver steps reload their snapshot at the last committed
block), stages that start with a full-pass step are redone whole.

Ray's own INFO logs, worker logs and Ray Data's progress bars are off unless asked for
(``curate run --engine ray --ray-logs``, ``RayRunner(..., ray_logs=True)``).

Modules: this one (``RayRunner``: connect, stages, read, commit blocks, sum stats), ``ray_plan.py``
(placement), ``ray_tasks.py`` (what runs on workers: the UDF, the run sink, embedding prefetch),
``ray_resume.py`` (completion markers and state snapshots).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from curate.context import RunContext
from curate.errors import require
from curate.io.writers import ShardWriter, read_shard
from curate.registry import ENGINES
from curate.runner.base import Runner
from curate.runner.checkpoint import Checkpoint
from curate.runner.ray_plan import RayPlan
from curate.runner.ray_resume import BlockLog
from curate.runner.ray_tasks import RunSink, by_block, with_block
from curate.stats import StepStats
from curate.step import Step


@ENGINES.register("ray")
class RayRunner(Runner):
    """Runs a pipeline on Ray Data, stage by stage. ``ray_logs=True`` shows Ray's own logs."""

    engine = "ray"
    scratch = ("stages", "state/ray")

    def __init__(self, pipeline, run_dir: str | Path | None = None, resume: bool = False,
                 overwrite: bool = False, progress: bool = False, ray_logs: bool = False, **kw: Any):
        super().__init__(pipeline, run_dir, resume=resume, overwrite=overwrite, progress=progress, **kw)
        self.ray_logs = ray_logs

    def restore(self, ck: Checkpoint) -> None:
        """A finished run's counts are in its checkpoint (its markers are gone); otherwise nothing
        to load up front: counts are summed from the block markers at the end, and stateful steps
        load their snapshot when their stage starts (``ray_resume.py``)."""
        if ck.finished:
            super().restore(ck)

    def execute(self, ctx: RunContext, ck: Checkpoint) -> None:
        if ck.finished:  # resumed after the end: nothing left to run
            return
        ray = require("ray", "ray", "the ray engine")
        require("ray.data", "ray", "the ray engine")
        own_ray = _connect(ray, self.ray_logs)
        plans: list[RayPlan] = []
        stages = self.p.stages()
        try:
            with _data_context(ray, self.ray_logs):
                sink = _start_sink(ray, self.run_dir)
                for k in range(ck.stage, len(stages)):
                    plans.append(RayPlan(self.files, sink, ctx, BlockLog(self.run_dir, k)))
                    self._run_stage(ray, plans[-1], stages, ck)
                    ck.stage, ck.done = k + 1, 0
                    ck.save(self.run_dir)
                    self.release(plans[-1].driver_steps)
            self._sum_stats(len(stages))
        finally:
            for step in (s for plan in plans for s in plan.driver_steps):
                step.close()
            if own_ray:
                ray.shutdown()

    # ------------------------------------------------------------ one stage
    def _run_stage(self, ray: Any, plan: RayPlan, stages: list[list[Step]], ck: Checkpoint) -> None:
        k, log, steps = plan.log.stage, plan.log, stages[plan.log.stage]
        final = k == len(stages) - 1
        out_dir = self.run_dir / "data" if final else self.run_dir / "stages" / f"stage-{k}"
        if steps and steps[0].needs_full_pass:  # redone whole on resume: fit needs every block
            log.clear()
            log.snapshots = False
            shutil.rmtree(out_dir, ignore_errors=True)
            for f in (self.run_dir / "rejected").glob("s*-part-*"):
                if 100 * k <= int(f.name[1:].split("-")[0]) < 100 * (k + 1):
                    f.unlink()
        refs = self._read(ray, log) if k == 0 else self._read_stage(ray, log, k - 1)
        for s in steps:
            if s.stateful:
                log.restore(s)
        out = ShardWriter(out_dir, self.p.output.format if final else "parquet")
        ck.done = len(log.committed)
        if refs:
            try:
                ds = plan.build(ray.data.from_arrow_refs(refs), steps)
                log.save_fit(plan.fit_stats)
                self._commit_stream(plan, plan.frames(ds), out, ck, steps)
            except ray.exceptions.RayError:
                error = ray.get(plan.sink.first_error.remote())
                if error is not None:  # a CurateError from a worker: one clean line in the CLI
                    raise error from None
                raise
        for b in log.blocks:  # blocks with nothing left to run (every row quarantined)
            if b not in log.committed:
                self._commit(plan, b, [], out, ck, steps)
        if final and not out.shards() and self._empty is not None:
            out.write(0, self._empty)  # keep an empty shard so readers find the schema

    def _read(self, ray: Any, log: BlockLog) -> list[Any]:
        """Stage 0: read on the driver (quarantine as in the local engine), one Ray block per
        input batch; committed batches are read again (the reader is sequential) but not sent."""
        refs, self._read_deltas, self._empty = [], {}, None
        for batch in self.p.reader().batches():
            log.blocks.append(batch.index)
            if batch.index in log.committed:
                continue
            self._read_deltas[batch.index] = self.count_read(batch, StepStats("read")).to_dict()
            if batch.frame.height or not refs:  # one empty block at most: it carries the schema
                refs.append(ray.put(with_block(batch.frame, batch.index).to_arrow()))
        return refs

    def _read_stage(self, ray: Any, log: BlockLog, prev: int) -> list[Any]:
        """A later stage reads the previous one's shards (``stages/stage-<prev>/part-<block>``)."""
        refs, self._read_deltas, self._empty = [], {}, None
        for f in ShardWriter(self.run_dir / "stages" / f"stage-{prev}", "parquet").shards():
            block = int(f.stem.split("-")[1])
            log.blocks.append(block)
            if block not in log.committed:
                refs.append(ray.put(with_block(read_shard(f), block).to_arrow()))
        return refs

    def _commit_stream(self, plan: RayPlan, frames: Iterator[pl.DataFrame], out: ShardWriter,
                       ck: Checkpoint, steps: list[Step]) -> None:
        """Commit each block as its rows arrive, in input order. A block that left no rows is
        known to be done when a later block arrives (Ray Data keeps the order): commit it empty."""
        pending = deque(b for b in plan.log.blocks if b not in plan.log.committed)
        cur, parts = None, []
        for frame in frames:
            for block, df in by_block(frame):
                if block is None:
                    self._empty = df if self._empty is None else self._empty
                    continue
                if block != cur:
                    if cur is not None:
                        self._commit(plan, cur, parts, out, ck, steps)
                    while pending and pending[0] < block:
                        b = pending.popleft()
                        if b != cur:
                            self._commit(plan, b, [], out, ck, steps)
                    cur, parts = block, []
                parts.append(df)
        if cur is not None:
            self._commit(plan, cur, parts, out, ck, steps)

    def _commit(self, plan: RayPlan, block: int, parts: list[pl.DataFrame], out: ShardWriter,
                ck: Checkpoint, steps: list[Step]) -> None:
        """Write block's shard, then its marker (the commit point), then drop older snapshots."""
        import ray

        rows = [p for p in parts if p.height]
        if rows:
            out.write(block, pl.concat(rows, how="diagonal_relaxed"))
        elif parts and self._empty is None:
            self._empty = parts[0]
        deltas: dict[str, StepStats] = {}
        sources = [ray.get(plan.sink.take.remote(block)), plan.take(block)]
        if block in self._read_deltas:
            sources.append({"read": self._read_deltas.pop(block)})
        for src in sources:
            for label, d in src.items():
                deltas.setdefault(label, StepStats(label)).merge(d)
        plan.log.commit(block, {label: s.to_dict() | {"seconds": s.seconds} for label, s in deltas.items()})
        for s in steps:
            if s.stateful:
                plan.log.prune(s)
        ck.done = len(plan.log.committed)
        ck.save(self.run_dir)

    def _sum_stats(self, n_stages: int) -> None:
        totals: dict[str, StepStats] = {}
        for k in range(n_stages):
            for label, s in BlockLog(self.run_dir, k).totals().items():
                totals.setdefault(label, StepStats(label)).merge(s.to_dict() | {"seconds": s.seconds})
        self.read_stats = totals.get("read", StepStats("read"))
        for s in self.p.steps:
            s.stats = totals.get(s.label, StepStats(s.label))


@contextmanager
def _data_context(ray: Any, ray_logs: bool) -> Iterator[None]:
    """Ray Data settings for the run, restored after it: input order end to end (stateful steps
    keep the same first-seen record as the local engine) and, unless ``ray_logs``, no progress
    bars or INFO lines of Ray Data's around curate's own output."""
    data_ctx = ray.data.DataContext.get_current()
    saved = (data_ctx.execution_options.preserve_order, data_ctx.enable_progress_bars,
             data_ctx.print_on_execution_start)
    data_log = logging.getLogger("ray.data")
    saved_level = data_log.level
    data_ctx.execution_options.preserve_order = True
    data_ctx.enable_progress_bars = data_ctx.print_on_execution_start = ray_logs
    if not ray_logs:  # its warnings are about its own progress bars and resources: noise here too
        data_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        (data_ctx.execution_options.preserve_order, data_ctx.enable_progress_bars,
         data_ctx.print_on_execution_start) = saved
        data_log.setLevel(saved_level)


def _connect(ray: Any, ray_logs: bool) -> bool:
    """Join the running Ray (or RAY_ADDRESS); else start a local one, quiet unless ``ray_logs``.
    True if we started it."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # "local", not None: None would join whatever Ray someone else last started on this machine
    ray.init(address=os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False, log_to_driver=ray_logs,
             logging_level="INFO" if ray_logs else "WARNING",
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}})
    return True


def _start_sink(ray: Any, run_dir: Path) -> Any:
    # pinned to the driver's node: it writes into the same run directory the driver does
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(num_cpus=0)(RunSink).options(scheduling_strategy=here).remote(str(run_dir))
