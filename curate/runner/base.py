"""The runner core every engine shares; an engine only says how the steps execute.

Modelled on datatrove's ``PipelineExecutor``: the base class owns the run directory, the checkpoint,
the side outputs (``RunFiles``: quarantine and rejected), read counting, the stats and the health
checks; ``LocalRunner`` (a loop over batches) and ``RayRunner`` (Ray Data) are siblings that
implement ``execute``. Engines are registered by name in ``curate.registry.ENGINES``, which is how
``Pipeline.run(engine=...)`` and ``engine:`` in the YAML find them.

    Runner.run()
      prepare_run_dir → restore(checkpoint) → write pipeline.yaml → execute(ctx, ck)  [engine]
      → checkpoint finished → stats.json (with ``health``) → remove ``scratch`` (stages/)
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from curate.context import RunContext
from curate.errors import ConfigError
from curate.io.reader import ReadBatch
from curate.io.writers import write_json
from curate.runner.checkpoint import Checkpoint, prepare_run_dir
from curate.runner.checks import RunChecks, health
from curate.runner.memory import return_freed_memory
from curate.runner.outputs import RunFiles
from curate.stats import StepStats


def default_cache_dir() -> Path:
    return Path(os.environ.get("CURATE_CACHE_DIR") or Path.home() / ".cache" / "curate")


class Runner(ABC):
    """Runs one pipeline into one run directory. Subclasses implement ``execute``."""

    engine: ClassVar[str] = ""
    scratch: ClassVar[tuple[str, ...]] = ("stages",)  # run-dir parts removed once the run is finished

    def __init__(self, pipeline, run_dir: str | Path | None = None, resume: bool = False,
                 overwrite: bool = False, progress: bool = False, checks: RunChecks | None = None,
                 **unknown: Any):
        if unknown:  # e.g. ray_logs for the local engine: say so instead of ignoring it
            raise ConfigError(f"the {self.engine} engine has no option {', '.join(sorted(unknown))}; "
                              f"drop it, or choose the engine it belongs to")
        self.p = pipeline
        self.run_dir = Path(run_dir or pipeline.output.dir)
        self.resume, self.overwrite, self.show_progress = resume, overwrite, progress
        self.checks = checks or pipeline.checks
        self.read_stats = StepStats("read")
        self.files = RunFiles(self.run_dir)

    # ------------------------------------------------------------ the template
    def run(self) -> dict[str, Any]:
        started = time.time()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ck = prepare_run_dir(self.run_dir, self.p.digest(), self.resume, self.overwrite)
        self.restore(ck)
        self.write_config()
        ctx = RunContext.for_dir(self.run_dir, cache_dir=self.p.cache_dir or default_cache_dir(),
                                 seed=self.p.seed, progress=self.show_progress)
        try:
            self.execute(ctx, ck)
        finally:
            ctx.close()
        ck.finished, ck.stage, ck.stats = True, len(self.p.stages()), self.snapshot()
        ck.save(self.run_dir)
        stats = self.final_stats(started)
        write_json(stats, self.run_dir / "stats.json")
        for part in self.scratch:
            shutil.rmtree(self.run_dir / part, ignore_errors=True)
        return stats

    @abstractmethod
    def execute(self, ctx: RunContext, ck: Checkpoint) -> None:
        """Run every step over the input, writing ``data/``, ``rejected/`` and ``quarantine/``
        (through ``self.files`` and ``self.count_read``) and leaving the counts in the steps' stats.
        Close the steps it set up; the context is closed by ``run``."""

    # ------------------------------------------------------------ shared pieces
    def count_read(self, batch: ReadBatch, into: StepStats | None = None) -> StepStats:
        """Count one input batch (rows in, records out, quarantine by reason) into the run's read
        stats (or `into`: the Ray engine keeps them per block) and write its quarantine."""
        s = self.read_stats if into is None else into
        s.records_in += batch.rows
        s.records_out += batch.records
        for q in batch.quarantined:
            s.dropped[q["reason"]] += 1
        self.files.quarantine(batch.index, batch.quarantined)
        return s

    @staticmethod
    def release(steps) -> None:
        """Tell `steps` their stage is over and committed (``Step.release``), then hand the freed
        memory back, so later stages do not carry a dedup index or fitted margins."""
        for step in steps:
            step.release()
        return_freed_memory()

    def snapshot(self) -> dict:
        return {"read": self.read_stats.to_dict(), **{s.label: s.stats.to_dict() for s in self.p.steps}}

    def restore(self, ck: Checkpoint) -> None:
        """Counts (and stateful steps' state) from the checkpoint of a resumed run."""
        if "read" in ck.stats:
            self.read_stats = StepStats.from_dict(ck.stats["read"])
        for s in self.p.steps:
            if s.label in ck.stats:
                s.stats = StepStats.from_dict(ck.stats[s.label])
            if s.stateful and s.label in ck.states:
                s.load_state(self.run_dir / "state" / "steps" / ck.states[s.label])

    def write_config(self) -> None:
        if self.p.config is not None:
            import yaml

            (self.run_dir / "pipeline.yaml").write_text(
                yaml.safe_dump(self.p.config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")

    def final_stats(self, started: float) -> dict[str, Any]:
        import curate

        steps = []
        for s in self.p.steps:
            d = s.stats.to_dict()
            d.update(figures={**d["figures"], **s.summary()}, step=s.name, options=s.options.model_dump(mode="json"))
            steps.append(d)
        stats = {
            "pipeline": self.p.name, "digest": self.p.digest(), "run_dir": str(self.run_dir), "engine": self.engine,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds_this_session": round(time.time() - started, 3),
            "read": self.read_stats.to_dict(), "steps": steps,
            "output": {"records": self.files.output_records(), "dir": str(self.run_dir / "data"),
                       "format": self.p.output.format},
            "quarantined": sum(self.read_stats.dropped.values()),
            "rejected": sum(sum(s.stats.dropped.values()) for s in self.p.steps),
            "versions": {"curate": curate.__version__, "polars": pl.__version__, "python": platform.python_version()},
        }
        stats["health"] = health(stats, self.checks)
        return stats


def safe_name(label: str) -> str:
    """A step label as a file name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
