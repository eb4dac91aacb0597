"""The step contract: a callable over a batch (a polars DataFrame) that returns a batch.

A step declares the columns it reads (``inputs``) and adds (``outputs``), its options as a
pydantic model (unknown keys rejected), and implements ``process``. The base class times it,
counts records in and out, and keeps every dropped record with its reason (``self.drop``) so the
runner can write it to ``rejected/``. Nothing is lost silently.

Two optional capabilities, declared as class flags:

* ``stateful``: the step keeps state across batches (a dedup index). It implements
  ``save_state(dir)`` / ``load_state(dir)``; the runner saves it at every checkpoint so a resumed
  run continues with the same state.
* ``needs_full_pass``: the step must see the whole dataset before it can process any batch
  (out-of-fold models). It implements ``fit(batches)``; the runner materialises the stage before
  it and calls ``fit`` with a function that re-iterates that stage's batches.

For the Ray engine (``curate/runner/ray_engine.py``) a step may also say how it distributes:

* ``uses_model``: ``setup`` loads a model (embedder, reward model, local LLM); Ray runs the step
  in an actor pool, one model per actor, with a GPU per actor when the cluster has GPUs.
* ``ray_plan(ds, plan)``: return a Ray Dataset to run the step your own way (e.g. embed in an
  actor pool, then index on the driver) using the helpers of ``plan``; return None (the default)
  to let the engine choose.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

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
        self.label = self.name
        self.stats = StepStats(self.label)
        self._dropped: list[pl.DataFrame] = []

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
        """Release backends."""

    def ray_plan(self, ds: Any, plan: Any) -> Any:
        """Ray engine only: return a Dataset that applies this step, or None for the default plan."""
        return None

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
    """Wraps a plain function ``batch -> batch`` so Python pipelines can be lists of functions."""

    reads = RecordKind.ANY
    open_outputs = True

    def __init__(self, fn: Callable[[pl.DataFrame], pl.DataFrame], name: str | None = None):
        super().__init__()
        self.fn = fn
        self.label = name or getattr(fn, "__name__", "function")
        self.stats = StepStats(self.label)

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        return self.fn(batch)


def as_step(obj: Step | Callable[[pl.DataFrame], pl.DataFrame]) -> Step:
    return obj if isinstance(obj, Step) else FunctionStep(obj)
