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
* ``needs_full_pass`` steps: ``fit`` on the driver over the materialised dataset, then processed
  as a plain step (or on the driver when it holds a model or state).
* a step whose ``ray_plan(ds, plan)`` returns a Dataset runs that way instead; ``plan`` is the
  ``RayPlan`` of ``ray_plan.py`` (``map``, ``on_driver``, ``fit``, ``frames``, ``embed_first``, ``ctx``).
  Semantic dedup's plan is ``plan.embed_first(ds, self)``: embed in an actor pool, index on the driver.

Side outputs match the local engine: the reader runs on the driver and writes ``quarantine/``
exactly as it does locally; workers send their dropped rows and stats deltas to one ``RunSink``
actor on the driver's node, which writes ``rejected/`` and sums the stats, so ``stats.json`` has
the local engine's counts (``seconds`` is summed over workers). Output shards are written by the
driver as ``data/part-N``. Ray retries tasks of dead workers itself; there is no ``--resume``.

Ray's own INFO logs, worker logs and Ray Data's progress bars are off unless asked for
(``curate run --engine ray --ray-logs``, ``RayRunner(..., ray_logs=True)``).

Modules: this one (``RayRunner``: connect, read, write output, collect stats), ``ray_plan.py``
(placement), ``ray_tasks.py`` (what runs on workers: the UDF, the run sink, embedding prefetch).
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from curate.context import RunContext
from curate.errors import ConfigError, require
from curate.io.writers import ShardWriter
from curate.registry import ENGINES
from curate.runner.base import Runner
from curate.runner.checkpoint import Checkpoint
from curate.runner.ray_plan import RayPlan
from curate.runner.ray_tasks import RunSink


@ENGINES.register("ray")
class RayRunner(Runner):
    """Runs a pipeline on Ray Data. ``ray_logs=True`` shows Ray's own logs and progress bars."""

    engine = "ray"

    def __init__(self, pipeline, run_dir: str | Path | None = None, resume: bool = False,
                 overwrite: bool = False, progress: bool = False, ray_logs: bool = False, **kw: Any):
        if resume:
            raise ConfigError("the ray engine cannot resume a run; start again with --overwrite, "
                              "or resume it with --engine local")
        super().__init__(pipeline, run_dir, resume=False, overwrite=overwrite, progress=progress, **kw)
        self.ray_logs = ray_logs

    def execute(self, ctx: RunContext, ck: Checkpoint) -> None:
        ray = require("ray", "ray", "the ray engine")
        require("ray.data", "ray", "the ray engine")
        own_ray = _connect(ray, self.ray_logs)
        plan = None
        try:
            with _data_context(ray, self.ray_logs):
                sink = _start_sink(ray, self.run_dir)
                plan = RayPlan(self.files, sink, ctx)
                try:
                    ds = plan.build(self._read(ray), self.p.steps)
                    self._write_output(plan.frames(ds))
                except ray.exceptions.RayError:
                    error = ray.get(sink.first_error.remote())
                    if error is not None:  # a CurateError from a worker: one clean line in the CLI
                        raise error from None
                    raise
                self._collect_stats(ray.get(sink.totals.remote()))
        finally:
            for step in plan.driver_steps if plan else []:
                step.close()
            if own_ray:
                ray.shutdown()

    # ------------------------------------------------------------ pieces
    def _read(self, ray: Any) -> Any:
        """Read on the driver (quarantine as in the local engine); each batch becomes one Ray block."""
        refs = []
        for batch in self.p.reader().batches():
            self.count_read(batch)
            if batch.frame.height or not refs:
                refs.append(ray.put(batch.frame.to_arrow()))
        return ray.data.from_arrow_refs(refs)

    def _write_output(self, frames: Iterator[pl.DataFrame]) -> None:
        out = ShardWriter(self.run_dir / "data", self.p.output.format)
        n, last = 0, None
        for df in frames:
            last = df
            if df.height:
                out.write(n, df)
                n += 1
        if n == 0 and last is not None:  # keep an empty shard so readers find the schema
            out.write(0, last)

    def _collect_stats(self, totals: dict[str, dict]) -> None:
        # steps that ran on workers counted there; steps run on the driver counted here
        for s in self.p.steps:
            if s.label in totals:
                s.stats.merge(totals[s.label])


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
