"""The local engine: a loop over batches, stage by stage, with a checkpoint after every batch."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from curate.context import RunContext
from curate.errors import CurateError
from curate.io.reader import ReadBatch
from curate.io.writers import ShardWriter, read_shard, write_frame, write_json, write_jsonl
from curate.runner.checkpoint import Checkpoint, prepare_run_dir
from curate.runner.progress import RunProgress
from curate.stats import StepStats
from curate.step import Step


class Interrupted(CurateError):
    """Ctrl-C: the run stopped at a checkpoint and can be resumed."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("CURATE_CACHE_DIR") or Path.home() / ".cache" / "curate")


class LocalRunner:
    def __init__(self, pipeline, run_dir: str | Path | None = None, resume: bool = False,
                 overwrite: bool = False, progress: bool = False):
        self.p = pipeline
        self.run_dir = Path(run_dir or pipeline.output.dir)
        self.resume, self.overwrite, self.show_progress = resume, overwrite, progress
        self.read_stats = StepStats("read")

    # ------------------------------------------------------------ public
    def run(self) -> dict[str, Any]:
        started = time.time()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ck = prepare_run_dir(self.run_dir, self.p.digest(), self.resume, self.overwrite)
        self._restore(ck)
        self._write_config()
        ctx = RunContext.for_dir(self.run_dir, cache_dir=self.p.cache_dir or default_cache_dir(),
                                 seed=self.p.seed, progress=self.show_progress)
        stages = self.p.stages()
        try:
            for step in self.p.steps:
                step.setup(ctx)
            with RunProgress(enabled=self.show_progress) as prog:
                for k in range(ck.stage, len(stages)):
                    self._run_stage(k, stages, ck, prog)
                    ck.stage, ck.done = k + 1, 0
                    ck.save(self.run_dir)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted; {ck.done} batches of stage {ck.stage} are committed in {self.run_dir}. "
                f"Continue with: curate run PIPELINE --resume"
            ) from None
        finally:
            for step in self.p.steps:
                step.close()
            ctx.close()
        ck.finished = True
        ck.save(self.run_dir)
        stats = self._final_stats(started)
        write_json(stats, self.run_dir / "stats.json")
        shutil.rmtree(self.run_dir / "stages", ignore_errors=True)
        return stats

    # ------------------------------------------------------------ stages
    def _batches(self, k: int, prev_dir: Path | None) -> Iterator[ReadBatch]:
        if k == 0:
            return self._reader.batches()
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
        task = prog.stage(f"stage {k + 1}/{len(stages)}: " + " → ".join(s.label for s in steps) or "copy",
                          total, self._reader if k == 0 else None)
        for batch in self._batches(k, prev_dir):
            if batch.index < ck.done:
                continue  # committed before the interruption
            df = batch.frame
            if k == 0:
                self._count_read(batch)
            for step in steps:
                df = step(df)
            self._commit(k, batch, df, steps, out, ck)
            prog.advance(task, df.height, batch.index + 1)

    def _count_read(self, batch: ReadBatch) -> None:
        s = self.read_stats
        s.records_in += batch.rows
        s.records_out += batch.frame.height
        for q in batch.quarantined:
            s.dropped[q["reason"]] += 1

    def _commit(self, k: int, batch: ReadBatch, df: pl.DataFrame, steps: list[Step], out: ShardWriter,
                ck: Checkpoint) -> None:
        i = batch.index
        if batch.quarantined:
            write_jsonl(batch.quarantined, self.run_dir / "quarantine" / f"part-{i:05d}.jsonl")
        dropped = [d for s in steps for d in s.take_dropped()]
        if dropped:
            write_frame(pl.concat(dropped, how="diagonal_relaxed"),
                        self.run_dir / "rejected" / f"s{k}-part-{i:05d}.parquet")
        out.write(i, df)
        old_states = dict(ck.states)
        for s in steps:
            if s.stateful:
                name = f"{_safe(s.label)}-{k}-{i:05d}"
                tmp = self.run_dir / "state" / "steps" / f".{name}.tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                s.save_state(tmp)
                os.replace(tmp, tmp.with_name(name))
                ck.states[s.label] = name
        ck.done = i + 1
        ck.stats = self._snapshot()
        ck.save(self.run_dir)  # the commit point
        for label, name in old_states.items():
            if ck.states.get(label) != name:
                shutil.rmtree(self.run_dir / "state" / "steps" / name, ignore_errors=True)

    # ------------------------------------------------------------ stats and state
    def _snapshot(self) -> dict:
        return {"read": self.read_stats.to_dict(), **{s.label: s.stats.to_dict() for s in self.p.steps}}

    def _restore(self, ck: Checkpoint) -> None:
        if "read" in ck.stats:
            self.read_stats = StepStats.from_dict(ck.stats["read"])
        for s in self.p.steps:
            if s.label in ck.stats:
                s.stats = StepStats.from_dict(ck.stats[s.label])
            if s.stateful and s.label in ck.states:
                s.load_state(self.run_dir / "state" / "steps" / ck.states[s.label])

    def _write_config(self) -> None:
        if self.p.config is not None:
            import yaml

            (self.run_dir / "pipeline.yaml").write_text(
                yaml.safe_dump(self.p.config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")

    def _final_stats(self, started: float) -> dict[str, Any]:
        import platform

        import curate

        data = self.run_dir / "data"
        n_out = sum(pl.scan_parquet(f).select(pl.len()).collect().item() if f.suffix == ".parquet"
                    else sum(1 for _ in open(f, encoding="utf-8")) for f in sorted(data.glob("part-*")))
        steps = []
        for s in self.p.steps:
            d = s.stats.to_dict()
            d.update(figures={**d["figures"], **s.summary()}, step=s.name, options=s.options.model_dump(mode="json"))
            steps.append(d)
        return {
            "pipeline": self.p.name, "digest": self.p.digest(), "run_dir": str(self.run_dir),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds_this_session": round(time.time() - started, 3),
            "read": self.read_stats.to_dict(), "steps": steps,
            "output": {"records": n_out, "dir": str(data), "format": self.p.output.format},
            "quarantined": sum(self.read_stats.dropped.values()),
            "rejected": sum(sum(s.stats.dropped.values()) for s in self.p.steps),
            "versions": {"curate": curate.__version__, "polars": pl.__version__, "python": platform.python_version()},
        }


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
