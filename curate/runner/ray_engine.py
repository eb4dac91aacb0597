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
  ``RayPlan`` below (``map``, ``on_driver``, ``fit``, ``frames``, ``embed_first``, ``ctx``).
  Semantic dedup's plan is ``plan.embed_first(ds, self)``: embed in an actor pool, index on the driver.

Side outputs match the local engine: the reader runs on the driver and writes ``quarantine/``
exactly as it does locally; workers send their dropped rows and stats deltas to one ``RunSink``
actor on the driver's node, which writes ``rejected/`` and sums the stats, so ``stats.json`` has
the local engine's counts (``seconds`` is summed over workers). Output shards are written by the
driver as ``data/part-N``. Ray retries tasks of dead workers itself; there is no ``--resume``.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from curate.context import RunContext
from curate.errors import ConfigError, CurateError, require
from curate.io.writers import ShardWriter, write_frame, write_json, write_jsonl
from curate.runner.checkpoint import prepare_run_dir
from curate.runner.local import LocalRunner, default_cache_dir
from curate.stats import StepStats
from curate.step import Step


def merge_stats(into: StepStats, d: dict) -> None:
    """Add a StepStats dict (one worker's delta) to `into`: counts sum, figures are replaced."""
    into.records_in += d.get("records_in", 0)
    into.records_out += d.get("records_out", 0)
    into.seconds += d.get("seconds", 0.0)
    into.dropped.update(d.get("dropped", {}))
    into.counts.update(d.get("counts", {}))
    into.figures.update(d.get("figures", {}))


def take_delta(step: Step) -> dict:
    """The stats a step gathered since the last call, and a fresh counter for the next batch."""
    d = step.stats.to_dict()
    d["seconds"] = step.stats.seconds  # unrounded: many small deltas must add up
    step.stats = StepStats(step.label)
    return d


class RunSink:
    """One actor per run, on the driver's node: writes workers' rejected rows, sums their stats."""

    def __init__(self, run_dir: str):
        self.run_dir = Path(run_dir)
        self.stats: dict[str, StepStats] = {}
        self.parts: dict[int, int] = {}
        self.error: tuple[type, str] | None = None

    def add(self, seg: int, deltas: dict[str, dict], rejected: Any = None) -> None:
        for label, d in deltas.items():
            merge_stats(self.stats.setdefault(label, StepStats(label)), d)
        if rejected is not None and rejected.num_rows:
            n = self.parts.get(seg, 0)
            self.parts[seg] = n + 1
            write_frame(pl.from_arrow(rejected), self.run_dir / "rejected" / f"s{seg}-part-{n:05d}.parquet")

    def fail(self, cls: type, message: str) -> None:
        self.error = self.error or (cls, message)

    def first_error(self) -> tuple[type, str] | None:
        return self.error

    def totals(self) -> dict[str, dict]:
        return {label: s.to_dict() | {"seconds": s.seconds} for label, s in self.stats.items()}


class ApplySteps:
    """The ``map_batches`` UDF: runs a group of steps on one Arrow batch on a worker.

    Built once per actor (model steps) or once per worker process (tasks, via ``_apply_task``),
    so ``setup`` loads models once. Dropped rows and stats deltas go to the sink per batch.
    """

    def __init__(self, steps: list[Step], seg: int, sink: Any, ctx: dict):
        self.steps, self.seg, self.sink = steps, seg, sink
        self.ctx = RunContext.for_dir(**ctx)
        for s in self.steps:
            s.setup(self.ctx)

    def __call__(self, table: Any) -> Any:
        import ray

        df = pl.from_arrow(table)
        try:
            for s in self.steps:
                df = s(df)
        except CurateError as e:
            # Ray wraps worker exceptions beyond recognition: the driver re-raises this one instead
            ray.get(self.sink.fail.remote(type(e), str(e)))
            raise
        dropped = [d for s in self.steps for d in s.take_dropped()]
        rejected = pl.concat(dropped, how="diagonal_relaxed").to_arrow() if dropped else None
        ray.get(self.sink.add.remote(self.seg, {s.label: take_delta(s) for s in self.steps}, rejected))
        return df.to_arrow()


_WORKER_UDFS: dict[str, ApplySteps] = {}


def _apply_task(table: Any, key: str, steps: list[Step], seg: int, sink: Any, ctx: dict) -> Any:
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
        self.stats = StepStats(self.label)
        self.inner: Step | None = None

    def setup(self, ctx: RunContext) -> None:
        self.inner = self.step_cls(self.step_options)
        self.inner.setup(ctx)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        self.inner.vectors(batch)
        return batch


class RayPlan:
    """Builds the Ray Dataset for a pipeline; also the helper a step's ``ray_plan`` receives."""

    def __init__(self, runner: "RayRunner", sink: Any, ctx: RunContext):
        import ray

        self.runner, self.sink, self.ctx = runner, sink, ctx
        self._ctx_args = {"run_dir": str(ctx.run_dir), "cache_dir": str(ctx.cache_dir), "seed": ctx.seed,
                          "progress": False}
        self._seg = 0
        self._on_driver: list[Step] = []  # set up on the driver; closed by the runner
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
        return ds.map_batches(_apply_task, batch_format="pyarrow", batch_size=None,
                              fn_kwargs={"key": uuid.uuid4().hex, **kw}, num_cpus=1)

    def frames(self, ds: Any) -> Iterator[pl.DataFrame]:
        """The dataset's batches as polars frames on the driver, in order."""
        for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            yield pl.from_arrow(table)

    def setup_on_driver(self, step: Step) -> None:
        if step not in self._on_driver:
            step.setup(self.ctx)
            self._on_driver.append(step)

    def on_driver(self, ds: Any, step: Step) -> Any:
        """Run `step` on the driver over the stream of batches (stateful steps), back into Ray."""
        import ray

        self.setup_on_driver(step)
        seg, refs = self._next_seg(), []
        for df in self.frames(ds):
            out = step(df)
            self.runner.write_rejected(seg, len(refs), step.take_dropped())
            refs.append(ray.put(out.to_arrow()))
        return ray.data.from_arrow_refs(refs) if refs else ds

    def fit(self, ds: Any, step: Step) -> Any:
        """Full-pass steps: materialise the dataset once and fit on the driver over its batches."""
        ds = ds.materialize()
        self.setup_on_driver(step)
        step.fit(lambda: self.frames(ds))
        return ds

    def embed_first(self, ds: Any, step: Step) -> Any:
        """Embed in parallel, then index on the driver (semantic dedup): an actor pool fills the
        embedding cache with the vectors `step` will ask for (its ``vectors(batch)``), then `step`
        runs on the driver, where its index lives, and finds every vector in the cache.

        The cache is a file under ``cache_dir``: on a multi-node cluster put ``cache_dir`` on shared
        storage, or the driver embeds again (same result, serial)."""
        cfg = getattr(step.options, "embedder", None)
        if hasattr(step, "vectors") and getattr(cfg, "cache", False):
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


class RayRunner(LocalRunner):
    """Runs a pipeline on Ray Data; reuses the local runner's read counting, config and stats."""

    def __init__(self, pipeline, run_dir: str | Path | None = None, resume: bool = False,
                 overwrite: bool = False, progress: bool = False):
        if resume:
            raise ConfigError("the ray engine cannot resume a run; start again with --overwrite, "
                              "or resume it with --engine local")
        super().__init__(pipeline, run_dir, resume=False, overwrite=overwrite, progress=progress)

    def run(self) -> dict[str, Any]:
        ray = require("ray", "ray", "the ray engine")
        require("ray.data", "ray", "the ray engine")
        started = time.time()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ck = prepare_run_dir(self.run_dir, self.p.digest(), False, self.overwrite)
        self._write_config()
        ctx = RunContext.for_dir(self.run_dir, cache_dir=self.p.cache_dir or default_cache_dir(),
                                 seed=self.p.seed, progress=self.show_progress)
        own_ray = _connect(ray)
        data_ctx = ray.data.DataContext.get_current()
        saved = (data_ctx.execution_options.preserve_order, data_ctx.enable_progress_bars)
        # input order end to end: stateful steps keep the same first-seen record as the local engine
        data_ctx.execution_options.preserve_order = True
        data_ctx.enable_progress_bars = self.show_progress
        data_log = logging.getLogger("ray.data")
        saved_level = data_log.level
        if not self.show_progress:  # Ray Data logs every execution at INFO
            data_log.setLevel(logging.WARNING)
        plan = None
        try:
            sink = _start_sink(ray, self.run_dir)
            plan = RayPlan(self, sink, ctx)
            try:
                ds = plan.build(self._read(ray), self.p.steps)
                self._write_output(plan.frames(ds))
            except ray.exceptions.RayError:
                _reraise_worker_error(ray, sink)
                raise
            self._collect_stats(ray.get(sink.totals.remote()))
        finally:
            for step in plan._on_driver if plan else []:
                step.close()
            ctx.close()
            data_ctx.execution_options.preserve_order, data_ctx.enable_progress_bars = saved
            data_log.setLevel(saved_level)
            if own_ray:
                ray.shutdown()
        ck.finished, ck.stage, ck.stats = True, len(self.p.stages()), self._snapshot()
        ck.save(self.run_dir)
        stats = self._final_stats(started)
        write_json(stats, self.run_dir / "stats.json")
        return stats

    # ------------------------------------------------------------ pieces
    def _read(self, ray: Any) -> Any:
        """Read on the driver (quarantine as in the local engine); each batch becomes one Ray block."""
        refs = []
        for batch in self.p.reader().batches():
            self._count_read(batch)
            if batch.quarantined:
                write_jsonl(batch.quarantined, self.run_dir / "quarantine" / f"part-{batch.index:05d}.jsonl")
            if batch.frame.height or not refs:
                refs.append(ray.put(batch.frame.to_arrow()))
        return ray.data.from_arrow_refs(refs)

    def write_rejected(self, seg: int, n: int, dropped: list[pl.DataFrame]) -> None:
        if dropped:
            write_frame(pl.concat(dropped, how="diagonal_relaxed"),
                        self.run_dir / "rejected" / f"s{seg}-part-{n:05d}.parquet")

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
                merge_stats(s.stats, totals[s.label])


def _picklable(step: Step) -> bool:
    from ray import cloudpickle

    try:
        cloudpickle.dumps(step)
        return True
    except Exception:  # any pickling failure (locks, sockets, C handles) means: keep it on the driver
        return False


def _connect(ray: Any) -> bool:
    """Join the running Ray (or RAY_ADDRESS); else start a quiet local one. True if we started it."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # "local", not None: None would join whatever Ray someone else last started on this machine
    ray.init(address=os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False, log_to_driver=False,
             logging_level="WARNING",
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}})
    return True


def _reraise_worker_error(ray: Any, sink: Any) -> None:
    """A CurateError a worker reported becomes the run's error: one clean line in the CLI."""
    found = ray.get(sink.first_error.remote())
    if found:
        cls, message = found
        err = cls.__new__(cls)  # skip subclass __init__ signatures (MissingDependency)
        Exception.__init__(err, message)
        raise err from None


def _start_sink(ray: Any, run_dir: Path) -> Any:
    # pinned to the driver's node: it writes into the same run directory the driver does
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(num_cpus=0)(RunSink).options(scheduling_strategy=here).remote(str(run_dir))
