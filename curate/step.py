"""The step contract: a callable over a batch (a polars DataFrame) that returns a batch.

A step declares the columns it reads (``inputs``) and adds (``outputs``), its options as a
pydantic model (unknown keys rejected), and implements ``process``. The base class times it,
counts records in and out, and keeps every dropped record with its reason (``self.drop``) so the
runner can write it to ``rejected/``. Nothing is lost silently.

Two optional capabilities, declared as class flags:

* ``stateful``: the step keeps state across batches (a dedup index). It implements
  ``save_state(dir)`` / ``load_state(dir)``; the runner saves it at every checkpoint so a resumed
  run continues with the same state, and calls ``release()`` when the step's stage is over.
* ``needs_full_pass``: the step must see the whole dataset before it can process any batch
  (out-of-fold models). It implements ``fit(batches)``; the runner materialises the stage before
  it and calls ``fit`` with a function that re-iterates that stage's batches.

For the Ray engine (``curate/runner/ray_engine.py``) a step may also say how it distributes:

* ``uses_model``: ``setup`` loads a model (embedder, reward model, local LLM); Ray runs the step
  in an actor pool, one model per actor, with a GPU per actor when the cluster has GPUs.
* ``ray_plan(ds, plan)``: return a Ray Dataset to run the step your own way (e.g. embed in an
  actor pool, then index on the driver) using the helpers of ``plan`` (``curate/runner/ray_plan.py``);
  return None (the default) to let the engine choose.
* ``vectors(batch)`` / ``prefetches_vectors()``: a step that embeds says so, and the Ray engine
  embeds ahead of it in an actor pool to fill the embedding cache.

``after_run(run_dir, stats)`` is called once with the final stats (the export step's data card).
Every hook a runner calls is declared here with a default: runners never probe with ``hasattr``.
The step's ``label`` is its one name in a run; ``stats.name`` follows it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict

from curate.context import RunContext
from curate.schema import RecordKind
from curate.stats import StepStats


class Options(BaseModel):
    """Base for step options: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


Batches = Callable[[], Iterator[pl.DataFrame]]


class Step:
    name: ClassVar[str] = ""
    # the schema the step reads and the one it writes: a RecordKind (PAIR, CANDIDATE or ANY)
    reads: ClassVar[str] = RecordKind.PAIR
    writes: ClassVar[str | None] = None  # None: same as it reads
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[Options]] = Options
    stateful: ClassVar[bool] = False
    needs_full_pass: ClassVar[bool] = False
    uses_model: ClassVar[bool] = False  # loads a model in setup: Ray runs it in an actor pool
    # adds columns it cannot declare (user code): `curate validate` stops checking column flow after it
    open_outputs: ClassVar[bool] = False

    def __init__(self, options: BaseModel | dict | None = None, **kwargs: Any):
        if isinstance(options, BaseModel):
            self.options = options
        else:
            self.options = self.Options(**{**(options or {}), **kwargs})
        self._label = self.name
        self.stats = StepStats(self.name)
        self._dropped: list[pl.DataFrame] = []

    # ------------------------------------------------------------ the label, in one place
    @property
    def label(self) -> str:
        """The step's name in this pipeline (``name``, or ``name#2`` for a second one): the key of
        its stats, state and rejected rows. ``stats.name`` always follows it."""
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        self._label = value
        self._stats.name = value

    @property
    def stats(self) -> StepStats:
        return self._stats

    @stats.setter
    def stats(self, value: StepStats) -> None:
        value.name = self._label  # restored or fresh counters are this step's, whatever they were called
        self._stats = value

    # ------------------------------------------------------------ to implement
    def setup(self, ctx: RunContext) -> None:
        """Load models and open backends. Called once before the first batch."""

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        raise NotImplementedError

    def fit(self, batches: Batches) -> None:
        """Full-pass steps only: see every batch of the stage before processing."""

    def save_state(self, directory: Path) -> None:
        """Stateful steps only."""

    def load_state(self, directory: Path) -> None:
        """Stateful steps only."""

    def summary(self) -> dict[str, Any]:
        """Derived figures for the stats (rates, agreement), computed from self.stats counts."""
        return {}

    def close(self) -> None:
        """The run is over (or failed): close backends."""

    def release(self) -> None:
        """The step's stage is over and its state saved: free what only ``process`` needs (a
        dedup index, a full pass's fitted margins), so later stages do not carry it (at 10M pairs
        that is GBs). ``summary`` and ``after_run`` must still work. Default: nothing."""

    def after_run(self, run_dir: Path, stats: dict[str, Any]) -> None:
        """Called once after the run with its final ``stats.json`` content (e.g. the export step
        writes the data card here). Default: nothing."""

    def ray_plan(self, ds: Any, plan: Any) -> Any:
        """Ray engine only: return a Dataset that applies this step, or None for the default plan."""
        return None

    def vectors(self, batch: pl.DataFrame) -> Any:
        """Steps that embed: the vectors ``process`` will use for `batch`, computed through the
        embedding cache. Default: None (the step embeds nothing)."""
        return None

    def prefetches_vectors(self) -> bool:
        """Ray engine: whether computing ``vectors`` ahead in an actor pool pays off, i.e. the step
        embeds and its embedder (``options.embedder``) caches, so its own calls then hit the cache."""
        embedder = self.options.model_dump().get("embedder")
        return type(self).vectors is not Step.vectors and isinstance(embedder, dict) and bool(embedder.get("cache"))

    # ------------------------------------------------------------ provided
    def __call__(self, batch: pl.DataFrame) -> pl.DataFrame:
        start = time.perf_counter()
        self.stats.records_in += batch.height
        out = self.process(batch) if batch.height else batch
        self.stats.records_out += out.height
        self.stats.seconds += time.perf_counter() - start
        return out

    def drop(self, batch: pl.DataFrame, mask: pl.Series | pl.Expr, reason: str) -> pl.DataFrame:
        """Remove the rows where `mask` is true, count them under `reason` and keep them aside."""
        mask = mask.fill_null(False)  # a null would drop a row from both sides: it stays instead
        gone = batch.filter(mask)
        if gone.height:
            self.stats.dropped[reason] += gone.height
            self._dropped.append(
                gone.with_columns(pl.lit(self.label).alias("_step"), pl.lit(reason).alias("_reason"))
            )
        return batch.filter(~mask)

    def track_removed(self, batch: pl.DataFrame, out: pl.DataFrame,
                      reason: str = "removed_by_function") -> pl.DataFrame:
        """For steps whose code filters rows itself (a plain function, ``python:``): the rows of
        `batch` whose ``id`` is not in `out` are counted under `reason` and kept for ``rejected/``,
        as ``drop`` does. Returns `out` unchanged; without an ``id`` column on both, nothing is tracked."""
        if "id" in batch.columns and "id" in out.columns:
            self.drop(batch, ~batch.get_column("id").is_in(out.get_column("id").implode()), reason)
        return out

    def take_dropped(self) -> list[pl.DataFrame]:
        out, self._dropped = self._dropped, []
        return out

    @classmethod
    def describe(cls) -> dict[str, Any]:
        doc = (cls.__doc__ or "").strip()
        options = {
            k: {"type": _type_name(f.annotation), "required": f.is_required(),
                "default": None if f.is_required() else f.get_default(call_default_factory=True),
                "help": f.description or ""}
            for k, f in cls.Options.model_fields.items()
        }
        return {
            "name": cls.name, "summary": doc.splitlines()[0] if doc else "", "doc": doc,
            "reads": cls.reads, "writes": cls.writes or cls.reads,
            "inputs": list(cls.inputs), "outputs": list(cls.outputs), "options": options,
            "stateful": cls.stateful, "needs_full_pass": cls.needs_full_pass,
        }


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


class FunctionStep(Step):
    """Wraps a plain function ``batch -> batch`` so Python pipelines can be lists of functions.

    Reads and writes whatever the function does. Rows the function removes (matched by ``id``)
    go to ``rejected/`` with reason ``removed_by_function``, like every other drop."""

    reads = RecordKind.ANY
    open_outputs = True

    def __init__(self, fn: Callable[[pl.DataFrame], pl.DataFrame], name: str | None = None):
        super().__init__()
        self.fn = fn
        self.label = name or getattr(fn, "__name__", "function")

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        return self.track_removed(batch, self.fn(batch))


def as_step(obj: Step | Callable[[pl.DataFrame], pl.DataFrame]) -> Step:
    return obj if isinstance(obj, Step) else FunctionStep(obj)
