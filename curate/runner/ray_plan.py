"""Step placement on Ray Data: which steps run as tasks, in actor pools, or on the driver.

``RayPlan.build(ds, steps)`` decides per step, in pipeline order (see ``ray_engine.py`` for the
rules); a step's ``ray_plan(ds, plan)`` hook receives the plan and may use its helpers (``map``,
``on_driver``, ``fit``, ``frames``, ``embed_first``, ``ctx``).

A plan covers one stage of the pipeline (the runner splits it before each full-pass step, as the
local engine does). Rows carry their input block's number (``ray_tasks.BLOCK``); steps on the
driver keep their stats per block (``take``) and, when stateful, save a state snapshot after each
block through the stage's ``BlockLog``, so a resumed run continues from the last committed one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import polars as pl

from curate.context import RunContext
from curate.runner.outputs import RunFiles
from curate.runner.ray_resume import BlockLog
from curate.runner.ray_tasks import ApplySteps, PrefetchVectors, apply_task, by_block, take_delta, with_block
from curate.stats import StepStats
from curate.step import Step


class RayPlan:
    """Builds the Ray Dataset for a pipeline; also the helper a step's ``ray_plan`` receives."""

    def __init__(self, files: RunFiles, sink: Any, ctx: RunContext, log: BlockLog):
        import ray

        self.files, self.sink, self.ctx, self.log = files, sink, ctx, log
        self._ctx_args = {"run_dir": str(ctx.run_dir), "cache_dir": str(ctx.cache_dir), "seed": ctx.seed,
                          "progress": False}
        self._seg = 100 * log.stage  # rejected/s<seg>-part-<block>: the same names when a stage is redone
        self.driver_steps: list[Step] = []  # set up on the driver; closed by the runner
        self.fit_stats: dict[str, dict] = {}  # label -> what a full-pass step counted in fit
        self._blocks: dict[int, dict[str, StepStats]] = {}  # driver steps' stats per block
        res = ray.cluster_resources()
        self.gpus, self.cpus = int(res.get("GPU", 0)), max(1, int(res.get("CPU", 1)))

    def _next_seg(self) -> int:
        self._seg += 1
        return self._seg - 1

    def map(self, ds: Any, steps: list[Step], uses_model: bool = False, actors: int | None = None) -> Any:
        """Apply `steps` with ``map_batches``: as tasks, or over an actor pool when a model is loaded."""
        kw = {"steps": steps, "seg": self._next_seg(), "sink": self.sink, "ctx": self._ctx_args}
        if uses_model:
            # CPU models use several threads each: one actor per 4 CPUs, or one per GPU
            n = actors or (self.gpus if self.gpus else max(1, self.cpus // 4))
            return ds.map_batches(ApplySteps, batch_format="pyarrow", batch_size=None, fn_constructor_kwargs=kw,
                                  concurrency=(1, n), num_gpus=1 if self.gpus else 0)
        return ds.map_batches(apply_task, batch_format="pyarrow", batch_size=None,
                              fn_kwargs={"key": uuid.uuid4().hex, **kw}, num_cpus=1)

    def frames(self, ds: Any) -> Iterator[pl.DataFrame]:
        """The dataset's batches as polars frames on the driver, in order (with the BLOCK column)."""
        for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            yield pl.from_arrow(table)

    def take(self, block: int) -> dict[str, dict]:
        """What the driver's steps counted on one block (label → StepStats dict), then forget it."""
        return {label: s.to_dict() | {"seconds": s.seconds} for label, s in self._blocks.pop(block, {}).items()}

    def setup_on_driver(self, step: Step) -> None:
        if step not in self.driver_steps:
            step.setup(self.ctx)
            self.driver_steps.append(step)

    def on_driver(self, ds: Any, step: Step) -> Any:
        """Run `step` on the driver over the stream of batches (stateful steps), back into Ray."""
        import ray

        self.setup_on_driver(step)
        seg, refs = self._next_seg(), []
        for frame in self.frames(ds):
            for block, df in by_block(frame):
                out = step(df)
                delta = take_delta(step)
                if block is not None:  # an empty batch: nothing dropped, nothing to count
                    self.files.rejected(seg, block, step.take_dropped())
                    self._blocks.setdefault(block, {}).setdefault(step.label, StepStats(step.label)).merge(delta)
                    if step.stateful:
                        self.log.snapshot(step, block)
                refs.append(ray.put(with_block(out, block).to_arrow()))
        return ray.data.from_arrow_refs(refs) if refs else ds

    def fit(self, ds: Any, step: Step) -> Any:
        """Full-pass steps: materialise the dataset once and fit on the driver over its batches."""
        import time

        ds = ds.materialize()
        self.setup_on_driver(step)
        start = time.perf_counter()
        step.fit(lambda: (df for frame in self.frames(ds) for _, df in by_block(frame)))
        step.stats.seconds += time.perf_counter() - start  # as the local engine counts it
        # counted once, here: the copies of a fitted step sent to workers start from zero
        self.fit_stats[step.label] = take_delta(step)
        return ds

    def embed_first(self, ds: Any, step: Step) -> Any:
        """Embed in parallel, then index on the driver (semantic dedup): an actor pool fills the
        embedding cache with the vectors `step` will ask for (its ``vectors(batch)``), then `step`
        runs on the driver, where its index lives, and finds every vector in the cache.

        The cache is a file under ``cache_dir``: on a multi-node cluster put ``cache_dir`` on shared
        storage, or the driver embeds again (same result, serial)."""
        if step.prefetches_vectors():
            ds = self.map(ds, [PrefetchVectors(step)], uses_model=True)
        if step.needs_full_pass:
            ds = self.fit(ds, step)
        return self.on_driver(ds, step)

    def build(self, ds: Any, steps: list[Step]) -> Any:
        fused: list[Step] = []

        def flush(d: Any) -> Any:
            out = self.map(d, list(fused)) if fused else d
            fused.clear()
            return out

        for step in steps:
            plain = not (step.stateful or step.needs_full_pass or step.uses_model)
            custom = type(step).ray_plan is not Step.ray_plan
            if plain and not custom:
                if _picklable(step):
                    fused.append(step)
                else:  # holds a lock or a handle from __init__: it cannot travel, so it stays here
                    ds = self.on_driver(flush(ds), step)
                continue
            ds = flush(ds)
            own = step.ray_plan(ds, self) if custom else None
            if own is not None:
                ds = own
                continue
            if step.needs_full_pass:
                ds = self.fit(ds, step)
                if not (step.stateful or step.uses_model) and _picklable(step):  # fitted: spread it out
                    fused.append(step)
                    continue
                ds = self.on_driver(ds, step)
            elif step.stateful:
                ds = self.on_driver(ds, step)
            else:
                ds = self.map(ds, [step], uses_model=True)
        return flush(ds)


def _picklable(step: Step) -> bool:
    from ray import cloudpickle

    try:
        cloudpickle.dumps(step)
        return True
    except Exception:  # any pickling failure (locks, sockets, C handles) means: keep it on the driver
        return False
