"""The run directory and its checkpoint.

    RUN_DIR/
      data/part-00000.parquet         output records (final stage)
      rejected/s0-part-00000.parquet  records dropped by steps, with _step and _reason columns
                                      (s<stage>-part-<batch>; on Ray s<segment>-part-<n>)
      quarantine/part-00000.jsonl     input rows that could not become records: file, line, reason, raw
      stages/stage-0/...              intermediate shards before a full-pass step (removed at the end)
      state/progress.json             the checkpoint: pipeline digest, stage, batches done, stats, states
      state/steps/<label>-<stage>-<batch>/  saved state of a stateful step after that batch of that
                                      stage (label made file-safe); older ones are removed once the
                                      checkpoint naming the new one is saved
      stats.json                      final per-step stats and health checks (written at the end)
      pipeline.yaml                   the resolved pipeline config (YAML pipelines)

A batch is committed when progress.json says so. Shards, quarantine and rejected files of batch i
are written (atomically, under deterministic names) *before* that, so a crash in between only
means batch i is redone and its files overwritten: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from curate.errors import ConfigError, ResumeError
from curate.io.writers import write_json

RUN_PARTS = ("data", "rejected", "quarantine", "stages", "state", "stats.json", "pipeline.yaml")


@dataclass
class Checkpoint:
    digest: str
    stage: int = 0
    done: int = 0  # batches of `stage` committed
    stats: dict = field(default_factory=dict)  # label -> StepStats dict
    states: dict = field(default_factory=dict)  # label -> state folder name
    finished: bool = False

    @staticmethod
    def path(run_dir: Path) -> Path:
        return run_dir / "state" / "progress.json"

    def save(self, run_dir: Path) -> None:
        write_json(asdict(self), self.path(run_dir))

    @classmethod
    def load(cls, run_dir: Path) -> Checkpoint | None:
        p = cls.path(run_dir)
        if not p.exists():
            return None
        return cls(**json.loads(p.read_text()))


def prepare_run_dir(run_dir: Path, digest: str, resume: bool, overwrite: bool) -> Checkpoint:
    """Decide between a fresh run, a resumed one, or a refusal that says what to do."""
    existing = Checkpoint.load(run_dir)
    if overwrite:
        for part in RUN_PARTS:
            p = run_dir / part
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        existing = None
    if existing is None:
        if (run_dir / "data").exists() and any((run_dir / "data").iterdir()):
            raise ConfigError(f"{run_dir} already holds output but no checkpoint; pass --overwrite to replace it")
        return Checkpoint(digest=digest)
    if existing.digest != digest:
        raise ResumeError(
            f"{run_dir} holds a run of a different pipeline (digest {existing.digest}, this one {digest}); "
            f"use another output dir, or --overwrite to start again"
        )
    if not resume and not existing.finished:
        raise ConfigError(f"{run_dir} holds an unfinished run; pass --resume to continue it or --overwrite to restart")
    if not resume and existing.finished:
        raise ConfigError(f"{run_dir} holds a finished run; pass --overwrite to run again")
    return existing
