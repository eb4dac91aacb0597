"""General steps: length limits, identical-response removal, schema checks, explicit Python steps."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import polars as pl
from pydantic import Field

from curate.errors import ConfigError
from curate.registry import STEPS
from curate.schema import RecordKind, prompt_text_expr, validate_frame
from curate.step import Options, Step


def _norm(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")


@STEPS.register()
class DropIdentical(Step):
    """Drop pairs whose chosen and rejected are the same text after normalising case and spaces.

    Reads: chosen, rejected. Drops with reason ``identical_responses``.
    """

    name = "drop_identical"
    inputs = ("chosen", "rejected")

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        return self.drop(batch, batch.select(_norm("chosen") == _norm("rejected")).to_series(), "identical_responses")


class LengthOptions(Options):
    min_prompt_chars: int = Field(1, ge=0)
    max_prompt_chars: int | None = Field(None, ge=1)
    min_response_chars: int = Field(1, ge=0)
    max_response_chars: int | None = Field(None, ge=1)


@STEPS.register()
class LengthFilter(Step):
    """Drop pairs whose prompt or responses are shorter or longer than the limits (characters).

    Reads: prompt, chosen, rejected. Drops with reasons ``prompt_too_short``, ``prompt_too_long``,
    ``response_too_short``, ``response_too_long``.
    """

    name = "length_filter"
    inputs = ("prompt", "chosen", "rejected")
    Options = LengthOptions

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        o = self.options
        plen = prompt_text_expr().str.len_chars()
        rmin = pl.min_horizontal(pl.col("chosen").str.len_chars(), pl.col("rejected").str.len_chars())
        rmax = pl.max_horizontal(pl.col("chosen").str.len_chars(), pl.col("rejected").str.len_chars())
        checks = [("prompt_too_short", plen < o.min_prompt_chars), ("response_too_short", rmin < o.min_response_chars)]
        if o.max_prompt_chars:
            checks.append(("prompt_too_long", plen > o.max_prompt_chars))
        if o.max_response_chars:
            checks.append(("response_too_long", rmax > o.max_response_chars))
        # applied in turn, so each record is counted under the first reason it fails
        for reason, bad in checks:
            batch = self.drop(batch, bad, reason)
        return batch


@STEPS.register()
class ValidateSchema(Step):
    """Check that the batch has the record schema's core columns and types; fails the run if not.

    Reads: the core columns of curate/schema.py. Writes nothing.
    """

    name = "validate_schema"
    reads = RecordKind.ANY

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        validate_frame(batch, where=f"step {self.label}")
        return batch


class PythonOptions(Options):
    function: str = Field(description="'module:function' taking and returning a polars DataFrame")


@STEPS.register()
class PythonStep(Step):
    """Run your own function ``batch -> batch``, named explicitly as ``module:function``.

    The only way a config imports code; the function must keep the record schema. The step's
    label (in stats and ``rejected/``) is the function's name; rows it removes (matched by ``id``)
    go to ``rejected/`` with reason ``removed_by_function``.
    """

    name = "python"
    reads = RecordKind.ANY
    open_outputs = True
    Options = PythonOptions

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        mod, _, attr = self.options.function.partition(":")
        if not attr:
            raise ConfigError(f"step python: function must look like 'module:function', got {self.options.function!r}")
        try:
            self.fn: Callable[[pl.DataFrame], pl.DataFrame] = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"step python: cannot import {self.options.function}: {e}") from e
        self.label = attr

    def process(self, batch: pl.DataFrame) -> pl.DataFrame:
        return self.track_removed(batch, self.fn(batch))
