"""A pipeline is a reader, a list of steps and an output: built from YAML or from Python.

    from curate import Pipeline
    from curate.steps.basic import DropIdentical
    p = Pipeline(input={"path": "pairs.jsonl"}, steps=[DropIdentical(), my_function],
                 output={"dir": "runs/x"})
    p.run()              # stats; p.run(check=True) raises RunCheckFailed on a failed health check

``run`` picks the engine by name from ``curate.registry.ENGINES`` (``local``, ``ray``), then calls
every step's ``after_run`` hook with the final stats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from curate.config import InputConfig, OutputConfig, PipelineConfig, load_pipeline
from curate.io.reader import Reader
from curate.registry import ENGINES, STEPS
from curate.runner.checks import RunChecks, enforce
from curate.step import Step, as_step


class Pipeline:
    def __init__(self, input: InputConfig | dict, steps: Sequence[Step | Callable[[pl.DataFrame], pl.DataFrame]],
                 output: OutputConfig | dict, name: str = "pipeline", batch_size: int = 1000, seed: int = 0,
                 cache_dir: str | None = None, engine: str = "local", config: PipelineConfig | None = None,
                 checks: RunChecks | dict | None = None):
        self.input = input if isinstance(input, InputConfig) else InputConfig(**input)
        self.output = output if isinstance(output, OutputConfig) else OutputConfig(**output)
        self.steps: list[Step] = [as_step(s) for s in steps]
        self.name, self.batch_size, self.seed = name, batch_size, seed
        self.cache_dir, self.engine = cache_dir, engine
        self.config = config
        self.checks = checks if isinstance(checks, RunChecks) else RunChecks(**(checks or {}))
        _unique_labels(self.steps)

    @classmethod
    def from_config(cls, cfg: PipelineConfig) -> Pipeline:
        built = [STEPS.get(s.step)(s.options) for s in cfg.steps]
        return cls(cfg.input, built, cfg.output, name=cfg.name, batch_size=cfg.batch_size, seed=cfg.seed,
                   cache_dir=cfg.cache_dir, engine=cfg.engine, config=cfg, checks=cfg.checks)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Pipeline:
        return cls.from_config(load_pipeline(path))

    def digest(self) -> str:
        if self.config is not None:
            return self.config.digest()
        # Python pipelines: the step classes, labels and options identify the run
        import hashlib
        import json

        desc = [self.input.model_dump(mode="json"), self.output.model_dump(mode="json"), self.batch_size,
                [(type(s).__name__, s.label, s.options.model_dump(mode="json")) for s in self.steps]]
        return hashlib.sha256(json.dumps(desc, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def reader(self) -> Reader:
        i = self.input
        return Reader(i.path, type=i.type, format=i.format, columns=i.columns, format_options=i.format_options,
                      split=i.split, name=i.name, limit=i.limit, source_label=i.source,
                      batch_size=self.batch_size)

    def stages(self) -> list[list[Step]]:
        """Split the step list before every full-pass step: each stage streams on its own.

        A full-pass step first in the list gets an empty stage 0 before it (a plain copy of the
        input), because its fit() re-reads the previous stage's shards.
        """
        stages: list[list[Step]] = [[]]
        for s in self.steps:
            if s.needs_full_pass and (stages[-1] or len(stages) == 1):
                stages.append([])
            stages[-1].append(s)
        return stages

    def run(self, run_dir: str | Path | None = None, resume: bool = False, overwrite: bool = False,
            progress: bool = False, engine: str | None = None, check: bool = False,
            **engine_options: Any) -> dict[str, Any]:
        """Run the pipeline; returns the final stats (also in ``RUN/stats.json``).

        The run's health checks (``self.checks``) are always recorded in ``stats['health']``;
        with ``check=True`` a failed one raises ``RunCheckFailed`` after every file is written
        (the CLI does this). ``engine_options`` go to the engine (e.g. ``ray_logs=True``).
        """
        runner = ENGINES.get(engine or self.engine)(self, run_dir, resume=resume, overwrite=overwrite,
                                                     progress=progress, **engine_options)
        stats = runner.run()
        for step in self.steps:  # e.g. the export step's data card needs the final stats
            step.after_run(Path(stats["run_dir"]), stats)
        if check:
            enforce(stats)
        return stats


def _unique_labels(steps: list[Step]) -> None:
    seen: Counter = Counter()
    for s in steps:
        seen[s.label] += 1
        if seen[s.label] > 1:
            s.label = f"{s.label}#{seen[s.label]}"
