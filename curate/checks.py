"""Static checks of a parsed pipeline, run by ``curate validate`` (and before ``curate run``) so a
mistake fails in a second with file:line instead of after the reader has started:

* ``input.format`` names a registered input format (or ``auto``);
* the format accepts ``input.columns`` and ``input.format_options`` (for ``mapping``: prompt +
  chosen + rejected, or prompt + response_a + response_b + winner with ``winner_values``);
* every step's declared ``inputs`` exist at its place in the pipeline: the columns the reader
  produces (the core columns of the format's record kind) plus every earlier step's ``outputs``.

The column flow is not checked when the reader's columns cannot be known before reading: format
``auto`` or curate's own layouts (a previous run's output carries whatever columns that run added);
after a step that cannot declare its outputs (``python``) the check stops.
"""

from __future__ import annotations

import yaml

from curate.config import PipelineConfig, _line_of
from curate.errors import ConfigError
from curate.schema import SCHEMAS, RecordKind

# input formats whose columns are known only once the data is read
OPEN_FORMATS = ("auto", "curate", "curate_candidate")


def check_pipeline(cfg: PipelineConfig, where: str = "<pipeline>", root: yaml.Node | None = None) -> None:
    """Raise ConfigError (file:line, what is wrong, what to do) for the first failed check."""
    fmt = check_input(cfg, where, root)
    if fmt is not None:
        check_columns(cfg, fmt, where, root)


def check_input(cfg: PipelineConfig, where: str, root: yaml.Node | None) -> type | None:
    """The input format's class (None for ``auto``), after checking its name and mapping columns."""
    from curate.registry import FORMATS

    name = cfg.input.format
    if name == "auto":
        return None
    if name not in FORMATS.names():
        line = _line_of(root, ("input", "format"))
        raise ConfigError(f"{where}:{line or '?'}: input.format: unknown input format '{name}'; use auto or one "
                          f"of {', '.join(FORMATS.names())} (`curate steps` lists them with their columns)")
    cls = FORMATS.get(name)
    options = dict(cfg.input.format_options or {})
    if cfg.input.columns:
        options["columns"] = cfg.input.columns
    try:  # the format checks its own options and columns (as the reader will): one rule, one place
        cls(source="", **options)
    except ConfigError as e:
        label = "input.columns" if name == "mapping" and "columns" in str(e) else "input.format_options"
        at = ("input", label.split(".")[1])
        line = _line_of(root, at) if (cfg.input.columns if at[1] == "columns" else cfg.input.format_options) \
            else _line_of(root, ("input", "format"))
        hint = "; e.g. columns: {prompt: question, chosen: good, rejected: bad}" if label == "input.columns" else ""
        msg = str(e).removeprefix("input.format_options/columns: ")  # we name the key ourselves
        raise ConfigError(f"{where}:{line or '?'}: {label}: {msg}{hint}") from None
    return FORMATS.get(name)


def check_columns(cfg: PipelineConfig, fmt: type, where: str, root: yaml.Node | None) -> None:
    """Walk the steps in order with the set of columns available; the first missing input fails."""
    from curate.registry import STEPS

    if fmt.name in OPEN_FORMATS:
        return
    have = set(SCHEMAS[fmt.kind])
    for i, spec in enumerate(cfg.steps):
        cls = STEPS.get(spec.step)
        missing = [c for c in cls.inputs if c not in have]
        if missing:
            line = _line_of(root, ("steps", i, "step"))
            raise ConfigError(
                f"{where}:{line or '?'}: steps.{i} ({spec.step}) reads column(s) {', '.join(missing)}, which neither "
                f"the input (format '{fmt.name}') nor an earlier step produces; add a step that writes them before "
                f"it (`curate steps {spec.step}` shows what it reads)")
        if cls.open_outputs:
            return
        writes = cls.writes or cls.reads
        if writes != cls.reads and writes != RecordKind.ANY:
            have = set(SCHEMAS[writes])  # a step that changes the record kind (build_pairs) starts a new schema
        have |= set(cls.outputs)
