"""Pipeline files: YAML, loaded with ``yaml.safe_load``, validated by pydantic, unknown keys rejected.

    name: clean-hh
    input:  {path: data.jsonl.gz, format: auto}
    batch_size: 1000
    steps:
      - step: exact_dedup          # a registered step name (``curate steps`` lists them)
        fields: [prompt]           # the step's own options, validated by its Options model
    output: {dir: runs/clean-hh, format: parquet}

Nothing in a config names code to import, except an explicit ``step: python`` entry.
Validation errors carry file:line of the offending key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curate.errors import ConfigError
from curate.runner.checks import RunChecks


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Model):
    path: str | list[str] = Field(description="file, glob, folder, list of files, or a Hugging Face dataset id")
    type: str = Field("auto", description="auto (by file extension) or a source type from curate.io.sources.SOURCES")
    format: str = Field("auto", description="layout adapter: auto, hh, trl, ultrafeedback, helpsteer2, mapping, ...")
    columns: dict[str, str] | None = Field(None, description="for format 'mapping': prompt/chosen/rejected/system")
    format_options: dict[str, Any] = Field(default_factory=dict)
    split: str = "train"
    name: str | None = Field(None, description="dataset config name (Hugging Face)")
    limit: int | None = Field(None, ge=1, description="read at most this many rows")
    source: str | None = Field(None, description="label for the records' source column (default: file name)")

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        from curate.io.sources import SOURCES

        if v != "auto" and v not in SOURCES:
            raise ValueError(f"unknown input type '{v}'; use auto or one of {', '.join(SOURCES)}")
        return v


class OutputConfig(_Model):
    dir: str
    format: Literal["parquet", "jsonl"] = "parquet"


class StepConfig(_Model):
    step: str
    options: dict[str, Any] = Field(default_factory=dict)


class PipelineConfig(_Model):
    name: str = "pipeline"
    description: str = ""
    input: InputConfig
    steps: list[StepConfig] = Field(default_factory=list)
    output: OutputConfig
    batch_size: int = Field(1000, ge=1)
    seed: int = 0
    engine: Literal["local", "ray"] = "local"
    cache_dir: str | None = Field(
        None, description="LLM/embedding cache (default: $CURATE_CACHE_DIR or ~/.cache/curate)")
    checks: RunChecks = Field(default_factory=RunChecks, description="health checks of the finished run")

    @field_validator("steps", mode="before")
    @classmethod
    def _split_options(cls, v: Any) -> Any:
        # YAML writes a step's options next to its name; gather them under `options`
        if not isinstance(v, list):
            return v
        out = []
        for item in v:
            if isinstance(item, dict) and "step" in item and "options" not in item:
                item = {"step": item["step"], "options": {k: x for k, x in item.items() if k != "step"}}
            out.append(item)
        return out

    def digest(self) -> str:
        """Hash of everything that changes the output; the run directory records it for resume."""
        d = self.model_dump(mode="json", exclude={"checks"})  # limits judge a run, they don't change it
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- loading with line numbers


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a 1-based line."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if node is None:
            break
        if key == "options":  # options live beside `step` in the YAML
            continue
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    nxt = v
                    line = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
            line = nxt.start_mark.line + 1
        node = nxt
    return line


def _format_errors(err: ValidationError, where: str, root: yaml.Node | None, prefix: tuple = ()) -> str:
    lines = []
    for e in err.errors():
        loc = prefix + tuple(e["loc"])
        line = _line_of(root, loc)
        path = ".".join(str(p) for p in loc if p != "options")
        lines.append(f"{where}:{line or '?'}: {path}: {e['msg']}")
    return "invalid pipeline:\n  " + "\n  ".join(lines)


# A pipeline file is a few hundred nodes; these bounds refuse alias bombs ("billion laughs": a 1 KB
# file whose aliases expand to 10^9 nodes took 40 s and 1.6 GB in validation) before anything is built.
MAX_BYTES = 1_000_000
MAX_NODES = 100_000


def _expanded_size(root: yaml.Node, where: str) -> int:
    """Nodes in the document with every alias expanded, counted without expanding it: each node's size
    is computed once (aliases share node objects). ConfigError at the node that crosses MAX_NODES."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # post-order without recursion: deep nesting must not hit the recursion limit
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        kids = [x for kv in node.value for x in kv] if isinstance(node, yaml.MappingNode) else \
            node.value if isinstance(node, yaml.SequenceNode) else []
        if not children_done:
            if sizes.get(-id(node)) == 0:  # reached again while its children are pending: a cycle
                raise ConfigError(f"{where}:{node.start_mark.line + 1}: recursive YAML alias; write the value out")
            sizes[-id(node)] = 0
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        size = 1 + sum(sizes[id(k)] for k in kids)
        if size > MAX_NODES:
            raise ConfigError(f"{where}:{node.start_mark.line + 1}: YAML aliases here expand to over {MAX_NODES:,} "
                              f"values (an alias bomb?); a pipeline file needs far fewer: write the values out")
        sizes[id(node)] = size
    return sizes[id(root)]


def _load_yaml(text: str, where: str) -> tuple[Any, yaml.Node | None]:
    """Compose the YAML once (aliases stay shared nodes), bound its size, then build Python objects."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where}: {len(text):,} bytes; a pipeline file is at most {MAX_BYTES:,} "
                          f"(put data in input files, not in the pipeline)")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            return None, None
        _expanded_size(root, where)
        return yaml.SafeLoader("").construct_document(root), root
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}{line}: not valid YAML: {getattr(e, 'problem', e)}") from e


def parse_pipeline(text: str, where: str = "<pipeline>") -> tuple[PipelineConfig, yaml.Node | None]:
    from curate.checks import check_pipeline

    data, root = _load_yaml(text, where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a pipeline file must be a YAML mapping with input, steps and output")
    try:
        cfg = PipelineConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_errors(e, where, root)) from e
    check_steps(cfg, where, root)
    check_pipeline(cfg, where, root)
    return cfg, root


def check_steps(cfg: PipelineConfig, where: str = "<pipeline>", root: yaml.Node | None = None) -> None:
    """Validate every step's options against its Options model (unknown step names included)."""
    from curate.registry import STEPS

    for i, spec in enumerate(cfg.steps):
        try:
            cls = STEPS.get(spec.step)
        except ConfigError as e:
            line = _line_of(root, ("steps", i, "step"))
            raise ConfigError(f"{where}:{line or '?'}: steps.{i}: {e}") from e
        try:
            cls.Options.model_validate(spec.options)
        except ValidationError as e:
            raise ConfigError(_format_errors(e, where, root, ("steps", i))) from e


def load_pipeline(path: str | Path) -> PipelineConfig:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"pipeline file not found: {p}")
    return parse_pipeline(p.read_text(encoding="utf-8"), str(p))[0]
