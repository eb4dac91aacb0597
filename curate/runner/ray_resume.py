"""Per-block completion markers of the Ray engine, so ``--resume`` skips what is committed.

As datatrove's executor keeps one completion file per shard, the Ray engine keeps one per input
block and stage (a block is one input batch; its number travels with its rows):

    RUN/state/ray/stage-<k>/block-<i>.json     committed: the stats deltas of block i in stage k
                                               (label -> StepStats dict, "read" in stage 0)
    RUN/state/ray/stage-<k>/fit.json           what full-pass steps counted in fit (stage k)
    RUN/state/ray/stage-<k>/steps/<label>/<i>/ a stateful driver step's state after block i

Block i of stage k is committed when its marker exists; its output shard, rejected and quarantine
files are written before that under deterministic names, so a block redone after a crash
overwrites its own files. The rules on resume:

* a **streaming** stage skips its committed blocks. The driver commits blocks in input order
  (Ray Data keeps it), so the committed blocks form a prefix of the stage's block list (blocks
  committed at read time because nothing of them survived it aside); a stateful driver step
  reloads its snapshot of the last block of that prefix and sees the rest in order again.
* a stage that starts with a **full-pass** step is redone whole (its markers, shards and rejected
  files are cleared): its ``fit`` needs every block, and a redone fit could differ in the last
  float bit from the one the committed blocks saw.

The run's stats are the sum of every marker (plus ``fit.json``), so counts are exact whatever
was interrupted; the folder is removed when the run finishes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from curate.io.writers import write_json
from curate.runner.base import safe_name
from curate.stats import StepStats
from curate.step import Step


class BlockLog:
    """The completion markers and state snapshots of one stage."""

    def __init__(self, run_dir: Path, stage: int):
        self.stage = stage
        self.dir = Path(run_dir) / "state" / "ray" / f"stage-{stage}"
        self.blocks: list[int] = []  # this stage's block numbers, in input order (set by the runner)
        self.committed: set[int] = {int(p.stem.split("-")[1]) for p in self.dir.glob("block-*.json")}
        self.snapshots = True  # off in a full-pass stage: it is redone whole, never resumed inside
        self._pos = 0  # blocks[:_pos] are committed (committed only grows: the prefix only advances)

    # ------------------------------------------------------------ markers
    def commit(self, block: int, deltas: dict[str, dict]) -> None:
        write_json(deltas, self.dir / f"block-{block:05d}.json")
        self.committed.add(block)

    def save_fit(self, stats: dict[str, dict]) -> None:
        write_json(stats, self.dir / "fit.json")

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.committed, self._pos = set(), 0

    def totals(self) -> dict[str, StepStats]:
        """label -> the summed stats of every committed block and of the fit."""
        out: dict[str, StepStats] = {}
        files = sorted(self.dir.glob("block-*.json")) + sorted(self.dir.glob("fit.json"))
        for f in files:
            for label, d in json.loads(f.read_text()).items():
                out.setdefault(label, StepStats(label)).merge(d)
        return out

    def prefix(self) -> int:
        """The last block of the committed prefix of ``blocks`` (-1: none)."""
        while self._pos < len(self.blocks) and self.blocks[self._pos] in self.committed:
            self._pos += 1
        return self.blocks[self._pos - 1] if self._pos else -1

    # ------------------------------------------------------------ stateful driver steps
    def _snapshots(self, step: Step) -> dict[int, Path]:
        d = self.dir / "steps" / safe_name(step.label)
        return {int(p.name): p for p in d.glob("[0-9]*")} if d.exists() else {}

    def snapshot(self, step: Step, block: int) -> None:
        """Save `step`'s state after `block` (written aside, then renamed: never half a state)."""
        if not self.snapshots:
            return
        final = self.dir / "steps" / safe_name(step.label) / f"{block:05d}"
        tmp = final.with_name(f".{final.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        step.save_state(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)

    def restore(self, step: Step) -> None:
        """Load the snapshot at the committed prefix (the state the committed blocks saw) and
        remove later ones; none means the step starts fresh."""
        upto = self.prefix()
        snaps = self._snapshots(step)
        keep = max((b for b in snaps if b <= upto), default=None)
        for b, p in snaps.items():
            if b > upto:
                shutil.rmtree(p, ignore_errors=True)
        if keep is not None:
            step.load_state(snaps[keep])

    def prune(self, step: Step) -> None:
        """Drop snapshots older than the one a resume would load now."""
        upto = self.prefix()
        snaps = self._snapshots(step)
        keep = max((b for b in snaps if b <= upto), default=None)
        for b, p in snaps.items():
            if keep is not None and b < keep:
                shutil.rmtree(p, ignore_errors=True)
