"""Rich progress bars: bytes or shards done, records out, rate and ETA per stage."""

from __future__ import annotations

from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._p: Progress | None = None
        self._reader: dict[TaskID, Any] = {}
        self._records: dict[TaskID, int] = {}

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._p = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[records]:,} records · {task.fields[rate]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                transient=False,
            )
            self._p.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.stop()

    def stage(self, description: str, total: int | None, reader: Any = None) -> TaskID | None:
        if self._p is None:
            return None
        if reader is not None:
            _, total, _ = reader.progress()
        task = self._p.add_task(description, total=total, records=0, rate="")
        self._reader[task] = reader
        self._records[task] = 0
        return task

    def advance(self, task: TaskID | None, records: int, batches_done: int) -> None:
        if self._p is None or task is None:
            return
        self._records[task] += records
        reader = self._reader.get(task)
        completed = reader.progress()[0] if reader is not None else batches_done
        t = self._p.tasks[self._p.task_ids.index(task)]
        elapsed = t.elapsed or 1e-9
        self._p.update(task, completed=completed, records=self._records[task],
                       rate=f"{self._records[task] / elapsed:,.0f} rec/s")
